"""Security headers and request ids on every response, HSTS only over TLS, route overrides."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.responses import HTMLResponse, PlainTextResponse

from strongbox.api.app import create_app
from strongbox.api.security import API_CSP, HTML_CSP, iter_routes
from strongbox.core.logging import JsonLogFormatter
from strongbox.runtime import Runtime
from support import Merchant

FRAME_NONE = "frame-ancestors 'none'"
#: The hosted card page is made to be framed: it sets its own ``frame-ancestors`` (the
#: merchant's registered origin; docs/hosted-fields.md), checked in tests/dashboard/.
FRAMED_PATHS = ("/elements/card",)


def _check_common(r: Any) -> None:
    h = r.headers
    assert h["X-Content-Type-Options"] == "nosniff", (r.url, dict(h))
    if r.url.path in FRAMED_PATHS:
        assert "frame-ancestors " in h["Content-Security-Policy"], (r.url, dict(h))
    else:
        assert FRAME_NONE in h["Content-Security-Policy"], (r.url, h["Content-Security-Policy"])
        assert h["X-Frame-Options"] == "DENY"
    assert re.fullmatch(r"req_[A-Za-z0-9]{24}", h["Request-Id"]), h.get("Request-Id")
    assert "Strict-Transport-Security" not in h  # plain HTTP


def test_every_route_answers_with_security_headers(
    api: TestClient, client: TestClient, runtime: Runtime
) -> None:
    app = create_app(runtime, run_workers=False)
    seen = 0
    for path, methods, _ in iter_routes(app.routes):
        url = re.sub(r"\{[^}]+\}", "x_missing", path)
        for method in methods - {"HEAD"}:
            for c in (api, client):  # authenticated and not
                r = c.request(method, url)
                _check_common(r)
                seen += 1
    assert seen >= 40
    # Errors outside routing too: unknown URL, wrong method, NUL in path, oversized body.
    for r in (
        api.get("/v1/nothing-here"),
        api.delete("/v1/payment_intents"),
        api.get("/v1/customers/%00"),
        api.post("/v1/customers", content=b"x" * (2 * 1024 * 1024)),
    ):
        assert 400 <= r.status_code < 500
        _check_common(r)


def test_json_gets_the_api_policy_and_html_the_html_policy(
    api: TestClient, client: TestClient
) -> None:
    r = api.get("/v1/customers")
    assert r.headers["Content-Security-Policy"] == API_CSP
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    page = client.get("/simulator/3ds/nothing")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"] == HTML_CSP
    docs = client.get("/docs")
    assert docs.status_code == 200
    csp = docs.headers["Content-Security-Policy"]
    assert FRAME_NONE in csp
    assert "https://cdn.jsdelivr.net" in csp  # Swagger UI's bundle


def test_hsts_only_over_tls(runtime: Runtime) -> None:
    app = create_app(runtime, run_workers=False)
    with TestClient(app, base_url="https://testserver") as tls:
        hsts = tls.get("/healthz").headers["Strict-Transport-Security"]
        assert hsts.startswith("max-age=")
        assert int(hsts.split("=")[1].split(";")[0]) >= 31536000
    with TestClient(app) as plain:
        # A forwarded scheme from an untrusted peer is ignored.
        r = plain.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" not in r.headers


def test_hsts_behind_a_trusted_proxy(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})
    app = create_app(runtime, run_workers=False)
    with TestClient(app, client=("10.1.2.3", 5000)) as via_proxy:
        r = via_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "max-age=" in r.headers["Strict-Transport-Security"]
        assert "Strict-Transport-Security" not in via_proxy.get("/healthz").headers
    with TestClient(app, client=("192.0.2.7", 5000)) as direct:
        r = direct.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" not in r.headers


def test_a_route_can_set_its_own_frame_ancestors(runtime: Runtime, merchant: Merchant) -> None:
    app = create_app(runtime, run_workers=False)
    policy = "default-src 'self'; frame-ancestors https://shop.example"

    @app.get("/hosted-test-page")
    def page() -> HTMLResponse:
        return HTMLResponse("<p>card fields</p>", headers={"Content-Security-Policy": policy})

    @app.get("/plain-test")
    def plain() -> PlainTextResponse:
        return PlainTextResponse("ok")

    with TestClient(app) as c:
        r = c.get("/hosted-test-page")
        assert r.headers["Content-Security-Policy"] == policy
        assert "X-Frame-Options" not in r.headers
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        r = c.get("/plain-test")
        assert r.headers["Content-Security-Policy"] == API_CSP


def test_405_lists_the_allowed_methods(api: TestClient) -> None:
    r = api.put("/v1/customers")
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "POST"}
    r = api.patch("/v1/payment_intents/pi_x/capture")
    assert r.headers["Allow"] == "POST"
    # A path written as its own route is not an id of the route beside it ({id}: GET).
    r = api.options("/v1/ledger/transfers/batch")
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonLogFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured() -> Any:
    handler = _Capture()
    logger = logging.getLogger("strongbox.test.requests")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


def test_log_lines_carry_the_request_id(
    runtime: Runtime, merchant: Merchant, captured: _Capture
) -> None:
    app = create_app(runtime, run_workers=False)
    log = logging.getLogger("strongbox.test.requests")

    @app.get("/log-sync")
    def sync_route() -> PlainTextResponse:  # runs in the thread pool
        log.info("sync %s", "card 4242 4242 4242 4242 cvc=123", extra={"key": merchant.secret_key})
        return PlainTextResponse("ok")

    @app.get("/log-async")
    async def async_route() -> PlainTextResponse:
        log.info("async")
        return PlainTextResponse("ok")

    with TestClient(app) as c:
        a = c.get("/log-sync")
        b = c.get("/log-async")
    log.info("outside")
    ids = [line["request_id"] for line in captured.lines]
    assert ids == [a.headers["Request-Id"], b.headers["Request-Id"], None]
    first = captured.lines[0]
    assert "4242" not in first["message"]
    assert "123" not in first["message"]
    assert merchant.secret_key not in json.dumps(first)


def test_settings_limits_are_wired(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_body_bytes": 2048})
    app = create_app(runtime, run_workers=False)
    with TestClient(app) as c:
        r = c.post("/v1/customers", content=b"name=" + b"x" * 4096)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"
