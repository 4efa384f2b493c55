"""Operational endpoints: health, Prometheus metrics, OpenAPI and docs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from strongbox.runtime import Runtime

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def test_healthz_reports_the_database(client: TestClient, runtime: Runtime) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["database"] == runtime.db.engine.dialect.name


def test_healthz_is_503_when_the_database_is_gone(
    client: TestClient, runtime: Runtime, monkeypatch: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(runtime.db, "ping", lambda: False)
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "degraded", "database": "unreachable", "version": "0.1.0"}


def test_metrics_count_requests_gateway_calls_and_transitions(api: TestClient) -> None:
    from prometheus_client import generate_latest

    api.post("/v1/payment_intents", data=PAY)
    text = generate_latest().decode()  # what the metrics listener serves (api/metrics.py)
    assert (
        'strongbox_http_requests_total{method="POST",route="/v1/payment_intents",status="200"}'
        in text
    )
    assert (
        'strongbox_gateway_calls_total{connector="simulator",operation="authorize",outcome="captured"}'
        in text
    )
    assert 'strongbox_payment_intent_transitions_total{to_status="succeeded"}' in text
    assert "strongbox_gateway_call_seconds_bucket" in text


def test_openapi_describes_the_endpoints_and_their_parameters(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/payment_intents",
        "/v1/payment_intents/{intent_id}/confirm",
        "/v1/payment_intents/{intent_id}/capture",
        "/v1/payment_intents/{intent_id}/cancel",
        "/v1/refunds",
        "/v1/customers",
        "/v1/payment_methods/{pm_id}/attach",
        "/v1/events",
    ):
        assert path in paths, path
    create = paths["/v1/payment_intents"]["post"]["requestBody"]["content"]
    form = create["application/x-www-form-urlencoded"]["schema"]
    assert {"amount", "currency", "confirm", "capture_method"} <= set(form["properties"])
    assert "$ref" not in str(form)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "openapi.json" in docs.text
