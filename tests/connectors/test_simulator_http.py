from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from simulator_helpers import MERCHANT, THREE_DS, VISA, auth, cap, key, status

from strongbox.connectors.base import (
    OperationKind,
    OperationStatus,
    RetryableError,
    TerminalError,
    UnknownOutcomeError,
)
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.connectors.simulator import http as sim_http
from strongbox.connectors.simulator.http import (
    BackgroundServer,
    HttpSimulatorConnector,
    create_3ds_router,
    result_from_json,
    result_to_json,
)

HANG_SECONDS = 0.3


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(SimulatorEngine(hang_seconds=HANG_SECONDS)) as srv:
        yield srv


@pytest.fixture
def engine(server: BackgroundServer) -> SimulatorEngine:
    server.engine.reset()
    server.engine.hang_seconds = HANG_SECONDS
    return server.engine


@pytest.fixture
def client(server: BackgroundServer, engine: SimulatorEngine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=60.0) as c:
        yield c


def authorize_body(number: str = VISA, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "payment_id": "pi_1",
        "amount": 2000,
        "currency": "usd",
        "capture": True,
        "card": {"number": number, "exp_month": 12, "exp_year": 2039, "cvc": "123"},
    }
    body.update(extra)
    return body


# ---------------------------------------------------------------------------- server API


def test_authorize_and_status_over_http(client: httpx.Client) -> None:
    k = "order/42 key"  # needs quoting in the status path
    r = client.post("/v1/authorize", json=authorize_body(), headers={"Idempotency-Key": k})
    assert r.status_code == 200
    assert r.json()["status"] == "captured"
    s = client.get(
        f"/v1/operations/{quote(k, safe='')}",
        params={"kind": "authorize", "merchant_id": MERCHANT},
    )
    assert s.json()["status"] == "captured"
    missing = client.get("/v1/operations/nope", params={"kind": "refund", "merchant_id": MERCHANT})
    assert (missing.status_code, missing.json()["status"]) == (200, "not_found")


def test_declines_are_results_not_errors(client: httpx.Client) -> None:
    r = client.post(
        "/v1/authorize",
        json=authorize_body("4000000000009995"),
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["decline_code"]) == ("declined", "insufficient_funds")


def test_refusals_are_stripe_shaped(client: httpx.Client) -> None:
    missing_key = client.post("/v1/authorize", json=authorize_body())
    assert missing_key.status_code == 400
    assert "Idempotency-Key" in missing_key.json()["error"]["message"]
    unknown = client.post(
        "/v1/capture",
        json={
            "merchant_id": MERCHANT,
            "gateway_reference": "sim_ch_x",
            "amount": 1,
            "currency": "usd",
        },
        headers={"Idempotency-Key": key()},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "resource_missing"
    k = key()
    client.post("/v1/authorize", json=authorize_body(), headers={"Idempotency-Key": k})
    clash = client.post(
        "/v1/authorize", json=authorize_body(amount=1), headers={"Idempotency-Key": k}
    )
    assert clash.status_code == 400
    assert clash.json()["error"]["type"] == "idempotency_error"


def test_validation_errors_never_echo_the_card(client: httpx.Client) -> None:
    body = authorize_body()
    del body["card"]["exp_month"]
    body["card"]["cvc"] = "987"
    r = client.post("/v1/authorize", json=body, headers={"Idempotency-Key": key()})
    assert r.status_code == 400
    assert "card.exp_month" in r.json()["error"]["message"]
    assert VISA not in r.text
    assert "987" not in r.text


def test_control_api(client: httpx.Client, engine: SimulatorEngine) -> None:
    r = client.post(
        "/_control/faults", json={"fault": "error_5xx", "operations": ["capture"], "count": 2}
    )
    assert r.json()["faults"] == [{"fault": "error_5xx", "operations": ["capture"], "remaining": 2}]
    assert client.post("/_control/faults", json={"fault": "meltdown"}).status_code == 400
    assert client.post("/_control/faults", json={"fault": "timeout", "count": 0}).status_code == 400
    assert client.delete("/_control/faults").json() == {"faults": []}
    assert client.get("/_control/faults").json() == {"faults": []}
    lat = client.post("/_control/latency", json={"latency_ms": 5, "jitter_ms": 1, "hang_ms": 250})
    assert lat.json() == {"latency_ms": 5, "jitter_ms": 1, "hang_ms": 250}
    assert engine.hang_seconds == 0.25
    client.post("/v1/authorize", json=authorize_body(), headers={"Idempotency-Key": "k1"})
    ops = client.get("/_control/operations").json()["data"]
    assert [(op["idempotency_key"], op["kind"], op["status"]) for op in ops] == [
        ("k1", "authorize", "captured")
    ]
    charges = client.get("/_control/charges").json()
    assert charges["data"][0]["last4"] == "4242"
    assert VISA not in json.dumps(charges)
    client.post("/_control/reset")
    assert client.get("/_control/operations").json() == {"data": []}


def test_5xx_fault_over_http(client: httpx.Client, engine: SimulatorEngine) -> None:
    engine.inject("error_5xx")
    r = client.post("/v1/authorize", json=authorize_body(), headers={"Idempotency-Key": key()})
    assert r.status_code == 503
    assert engine.charges() == []


# ---------------------------------------------------------------------------- 3DS pages


def three_ds(engine: SimulatorEngine, return_url: str | None = None) -> tuple[str, str]:
    request = auth(THREE_DS, return_url=return_url)
    result = engine.authorize(request)
    assert result.next_action is not None
    return result.next_action.reference, request.idempotency_key


def test_challenge_page(client: httpx.Client, engine: SimulatorEngine) -> None:
    ref, _ = three_ds(engine)
    page = client.get(f"/3ds/{ref}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'action="{ref}/complete"' in page.text
    assert f'action="{ref}/fail"' in page.text
    assert "3184" in page.text
    assert THREE_DS not in page.text
    assert client.get("/3ds/sim_3ds_unknown").status_code == 404


def test_complete_redirects_to_return_url(client: httpx.Client, engine: SimulatorEngine) -> None:
    ref, k = three_ds(engine, return_url="https://shop.test/back?order=7")
    r = client.post(f"/3ds/{ref}/complete", follow_redirects=False)
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert (target.netloc, target.path) == ("shop.test", "/back")
    query = parse_qs(target.query)
    assert query["order"] == ["7"]
    assert query["redirect_status"] == ["succeeded"]
    assert query["challenge_reference"] == [ref]
    lookup = engine.get_status(status(OperationKind.AUTHORIZE, k))
    assert lookup.status is OperationStatus.CAPTURED


def test_complete_json_html_and_conflicts(client: httpx.Client, engine: SimulatorEngine) -> None:
    ref, _ = three_ds(engine, return_url="https://shop.test/back")
    r = client.post(f"/3ds/{ref}/fail", headers={"Accept": "application/json"})
    assert r.status_code == 200
    body = r.json()
    assert body["succeeded"] is False
    assert body["result"]["decline_code"] == "payment_intent_authentication_failure"
    conflict = client.post(f"/3ds/{ref}/complete", headers={"Accept": "application/json"})
    assert conflict.status_code == 409
    assert client.post("/3ds/sim_3ds_unknown/complete").status_code == 404
    ref2, _ = three_ds(engine)  # no return_url: a browser gets a page
    html = client.post(f"/3ds/{ref2}/complete", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "succeeded" in html.text


def test_unsafe_return_url_is_not_followed(client: httpx.Client, engine: SimulatorEngine) -> None:
    ref, _ = three_ds(engine, return_url="javascript:alert(1)")
    r = client.post(f"/3ds/{ref}/complete")
    assert r.status_code == 200
    assert r.json()["succeeded"] is True


def test_3ds_router_mounts_under_a_prefix_with_callback() -> None:
    engine = SimulatorEngine()
    seen: list[tuple[str, bool]] = []
    app = FastAPI()
    app.include_router(
        create_3ds_router(engine, on_complete=lambda r, ok: seen.append((r, ok))),
        prefix="/simulator",
    )
    with (
        BackgroundServer(engine, app=app, set_base_url=False) as srv,
        httpx.Client(trust_env=False) as c,
    ):
        engine.base_url = f"{srv.url}/simulator"
        result = engine.authorize(auth(THREE_DS))
        assert result.next_action is not None
        page = c.get(result.next_action.redirect_url)
        assert page.status_code == 200
        # The page's relative form action resolves to the mounted completion route.
        done = c.post(
            str(
                httpx.URL(result.next_action.redirect_url).join(
                    f"{result.next_action.reference}/complete"
                )
            ),
            headers={"Accept": "application/json"},
        )
    assert done.status_code == 200
    assert seen == [(result.next_action.reference, True)]


# ---------------------------------------------------------------------------- client mapping


def mock_connector(handler: Callable[[httpx.Request], httpx.Response]) -> HttpSimulatorConnector:
    return HttpSimulatorConnector("http://sim.test", transport=httpx.MockTransport(handler))


def raising(exc: type[httpx.HTTPError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return handler


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (lambda r: httpx.Response(503, json={"error": {"message": "x"}}), RetryableError),
        (lambda r: httpx.Response(500, text="oops"), RetryableError),
        (lambda r: httpx.Response(429, json={}), RetryableError),
        (
            lambda r: httpx.Response(409, json={"error": {"code": "idempotency_key_in_use"}}),
            RetryableError,
        ),
        (lambda r: httpx.Response(400, json={"error": {"code": "bad"}}), TerminalError),
        (
            lambda r: httpx.Response(404, json={"error": {"code": "resource_missing"}}),
            TerminalError,
        ),
        (lambda r: httpx.Response(200, text="not json"), UnknownOutcomeError),
        (lambda r: httpx.Response(200, json={"no": "status"}), UnknownOutcomeError),
        (lambda r: httpx.Response(302, headers={"location": "/x"}), UnknownOutcomeError),
        (raising(httpx.ConnectError), RetryableError),
        (raising(httpx.ConnectTimeout), RetryableError),
        (raising(httpx.PoolTimeout), RetryableError),
        (raising(httpx.ReadTimeout), UnknownOutcomeError),
        (raising(httpx.WriteTimeout), UnknownOutcomeError),
        (raising(httpx.RemoteProtocolError), UnknownOutcomeError),
        (raising(httpx.ReadError), UnknownOutcomeError),
    ],
)
def test_client_error_mapping(
    handler: Callable[[httpx.Request], httpx.Response], error: type[Exception]
) -> None:
    conn = mock_connector(handler)
    with pytest.raises(error) as exc:
        conn.authorize(auth())
    assert VISA not in str(exc.value)


def test_client_maps_gateway_codes() -> None:
    conn = mock_connector(
        lambda r: httpx.Response(400, json={"error": {"code": "amount_too_large", "message": "m"}})
    )
    with pytest.raises(TerminalError) as exc:
        conn.capture(cap("sim_ch_1", 5))
    assert exc.value.gateway_code == "amount_too_large"
    assert "m" in exc.value.message


def test_client_sends_key_and_maps_results() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"status": "in_review", "gateway_reference": "g1", "amount": 7}
        )

    conn = mock_connector(handler)
    result = conn.authorize(auth(idempotency_key="idk_1"))
    assert result.status is OperationStatus.PENDING  # unknown words are conservative
    assert (result.raw_status, result.gateway_reference, result.amount) == ("in_review", "g1", 7)
    assert result.details["unrecognised_status"] == "in_review"
    assert seen[0].headers["Idempotency-Key"] == "idk_1"
    assert json.loads(seen[0].content)["card"]["number"] == VISA  # only on the wire
    conn.get_status(status(OperationKind.CAPTURE, "a/b c"))
    assert seen[1].url.raw_path.startswith(b"/v1/operations/a%2Fb%20c?")
    assert seen[1].url.params["kind"] == "capture"
    assert VISA not in repr(conn)


def test_status_lookup_failures_are_retryable() -> None:
    for handler in (raising(httpx.ReadTimeout), lambda r: httpx.Response(200, text="garbage")):
        with pytest.raises(RetryableError):
            mock_connector(handler).get_status(status(OperationKind.AUTHORIZE, key()))
    with pytest.raises(TerminalError):
        mock_connector(lambda r: httpx.Response(400, json={})).get_status(
            status(OperationKind.AUTHORIZE, key())
        )


def test_result_json_round_trip(engine: SimulatorEngine) -> None:
    result = engine.authorize(auth(THREE_DS))
    assert result_from_json(json.loads(json.dumps(result_to_json(result)))) == result


# ---------------------------------------------------------------------------- real server


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = HttpSimulatorConnector(f"http://127.0.0.1:{port}", connect_timeout=0.5)
    with pytest.raises(RetryableError):
        conn.authorize(auth())
    conn.close()


def test_timeout_longer_than_client_wait_is_unknown_then_not_found(
    server: BackgroundServer, engine: SimulatorEngine
) -> None:
    conn = HttpSimulatorConnector(server.url, read_timeout=0.1)
    request = auth()
    engine.inject("timeout")
    with pytest.raises(UnknownOutcomeError):
        conn.authorize(request)
    assert conn.get_status(status(OperationKind.AUTHORIZE, request.idempotency_key)).status is (
        OperationStatus.NOT_FOUND
    )
    conn.close()


def test_timeout_shorter_than_client_wait_is_a_5xx(
    server: BackgroundServer, engine: SimulatorEngine
) -> None:
    # The server gives up before the client does: 504, and nothing was processed.
    conn = HttpSimulatorConnector(server.url, read_timeout=5.0)
    engine.inject("timeout")
    with pytest.raises(RetryableError):
        conn.authorize(auth())
    assert engine.charges() == []
    conn.close()


def test_latency_over_http(server: BackgroundServer, engine: SimulatorEngine) -> None:
    engine.set_latency(150)
    conn = HttpSimulatorConnector(server.url)
    t0 = time.monotonic()
    assert conn.authorize(auth()).status is OperationStatus.CAPTURED
    assert time.monotonic() - t0 >= 0.15
    conn.close()


def test_3ds_redirect_url_points_at_the_server(
    server: BackgroundServer, engine: SimulatorEngine
) -> None:
    conn = HttpSimulatorConnector(server.url)
    result = conn.authorize(auth(THREE_DS))
    assert result.next_action is not None
    assert result.next_action.redirect_url.startswith(server.url + "/3ds/")
    page = httpx.get(result.next_action.redirect_url, trust_env=False)
    assert "Complete" in page.text
    conn.close()


def test_serve_runs_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(sim_http.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    sim_http.serve("0.0.0.0", 8765, latency_ms=25)
    [(app, kw)] = calls
    assert kw == {"host": "0.0.0.0", "port": 8765}
    engine = app.state.engine
    assert (engine.base_url, engine.latency_ms) == ("http://localhost:8765", 25)
    sim_http.serve("::1", 9000)
    assert calls[1][0].state.engine.base_url == "http://[::1]:9000"
