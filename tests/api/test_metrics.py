"""Metrics stay off the public API port (issue 23 item 5): their own loopback listener,
or the public port with a bearer token; ``serve --processes N`` merges every process's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from strongbox.api import metrics
from strongbox.api.app import create_app
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime
from support import Merchant, error_of

PAY = {"amount": "500", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def test_the_public_port_has_no_metrics_route(api: TestClient, client: TestClient) -> None:
    api.post("/v1/payment_intents", data=PAY)  # so there are merchant-labelled samples
    for c in (client, api):  # without and with an API key
        r = c.get("/metrics")
        err = error_of(r, 404)
        assert err["type"] == "invalid_request_error"
        assert "acct_" not in r.text
    paths = {getattr(route, "path", None) for route in client.app.routes}  # type: ignore[attr-defined]
    assert "/metrics" not in paths


def test_with_a_token_the_public_port_serves_metrics_to_it_only(
    runtime: Runtime, merchant: Merchant
) -> None:
    token = "metrics-token-for-the-test"
    runtime.settings = runtime.settings.model_copy(update={"metrics_token": SecretStr(token)})
    with TestClient(create_app(runtime, run_workers=False)) as c:
        c.post("/v1/payment_intents", data=PAY, headers=merchant.headers)
        for headers in (
            {},
            merchant.headers,  # an API key is not the metrics token
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {token}"},
        ):
            r = c.get("/metrics", headers=headers)
            err = error_of(r, 401)
            assert err["code"] == "metrics_token_invalid"
            assert token not in r.text
            assert "strongbox_http_requests_total" not in r.text
        r = c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert 'route="/v1/payment_intents",status="200"' in r.text


def test_the_listener_serves_this_process_metrics(api: TestClient) -> None:
    from support import free_port

    api.post("/v1/payment_intents", data=PAY)
    listener = metrics.start_listener("127.0.0.1", free_port())
    try:
        host, port = listener.address
        assert host == "127.0.0.1"
        text = httpx.get(f"http://{host}:{port}/metrics", timeout=30).text
    finally:
        listener.close()
    assert 'strongbox_http_requests_total{method="POST",route="/v1/payment_intents"' in text
    assert "strongbox_gateway_calls_total" in text


def test_the_listener_is_on_loopback_unless_configured() -> None:
    s = Settings()
    assert (s.metrics_host, s.metrics_port, s.metrics_token) == ("127.0.0.1", 9464, None)


_CHILD = """
from strongbox.core import metrics
from strongbox.routing.health import CIRCUIT_STATE
metrics.IDEMPOTENT_REPLAYS.inc(float({n}))
CIRCUIT_STATE.labels("acct_m", "mca_t").set({n})
"""


def test_several_processes_are_served_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``serve --processes N`` relies on: samples of processes that share the
    directory are summed (counters) or the latest one kept (gauges) by one listener."""
    from support import free_port

    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path)}
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", _CHILD.format(n=n)], env=env, check=True)
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    listener = metrics.start_listener("127.0.0.1", free_port())
    try:
        host, port = listener.address
        text = httpx.get(f"http://{host}:{port}/metrics", timeout=30).text
    finally:
        listener.close()
    assert "strongbox_idempotent_replays_total 5.0" in text
    assert 'strongbox_circuit_state{merchant="acct_m",target="mca_t"} 3.0' in text


def test_the_multiprocess_directory_is_fresh_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    with metrics.multiprocess_directory() as path:
        assert os.environ[metrics.MULTIPROC_ENV] == path
        assert os.listdir(path) == []
    assert not os.path.exists(path)
    assert metrics.MULTIPROC_ENV not in os.environ
