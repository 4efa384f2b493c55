"""Strongbox driving the simulator as its own HTTP service: real network timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.connectors.base import OperationKind
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_runtime
from strongbox.workers.recovery import recover_once
from support import make_merchant

FORM = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


@pytest.fixture
def remote() -> Iterator[tuple[SimulatorEngine, BackgroundServer]]:
    # A dropped response hangs well past the read timeout; the timeout leaves room for a busy
    # CI machine (2 cores running the whole suite) to answer ordinary calls in time.
    engine = SimulatorEngine(hang_seconds=8.0)
    with BackgroundServer(engine) as server:
        yield engine, server


@pytest.fixture
def remote_runtime(
    settings: Settings, remote: tuple[SimulatorEngine, BackgroundServer]
) -> Iterator[Runtime]:
    _engine, server = remote
    rt = build_runtime(
        settings.model_copy(update={"simulator_url": server.url, "gateway_timeout_seconds": 3.0})
    )
    rt.payments.config = replace(rt.payments.config, retry_initial_seconds=0.001)
    yield rt
    rt.close()


@pytest.fixture
def remote_api(remote_runtime: Runtime) -> Iterator[TestClient]:
    m = make_merchant(remote_runtime)
    with TestClient(create_app(remote_runtime, run_workers=False)) as client:
        client.headers.update(m.headers)
        yield client


def test_payments_flow_over_http(
    remote_api: TestClient, remote: tuple[SimulatorEngine, BackgroundServer]
) -> None:
    engine, _ = remote
    pi = remote_api.post("/v1/payment_intents", data={**FORM, "capture_method": "manual"}).json()
    assert pi["status"] == "requires_capture"
    cap = remote_api.post(
        f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "1200"}
    )
    assert cap.status_code == 200, cap.text
    assert cap.json()["amount_received"] == 1200
    refund = remote_api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "200"})
    assert refund.json()["status"] == "succeeded"
    (charge,) = engine.charges()
    assert (charge.captured_amount, charge.refunded_amount) == (1200, 200)
    declined = remote_api.post(
        "/v1/payment_intents", data={**FORM, "payment_method": "pm_card_chargeDeclined"}
    )
    assert declined.status_code == 402


def test_a_real_read_timeout_after_the_charge_is_recovered_without_recharging(
    remote_api: TestClient,
    remote_runtime: Runtime,
    remote: tuple[SimulatorEngine, BackgroundServer],
) -> None:
    engine, _ = remote
    engine.inject("drop_response", operations={OperationKind.AUTHORIZE})
    pi = remote_api.post("/v1/payment_intents", data=FORM).json()
    assert pi["status"] == "processing"  # the client timed out after the simulator charged
    assert len(engine.charges()) == 1
    recover_once(remote_runtime, min_age=timedelta(0))
    after = remote_api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    authorizations = [op for op in engine.operations() if op.kind == OperationKind.AUTHORIZE]
    assert len(authorizations) == 1


def test_an_unreachable_gateway_is_a_clean_502(settings: Settings) -> None:
    # Port 9 (discard) has no listener here: connection refused, before anything was sent.
    rt = build_runtime(
        settings.model_copy(
            update={"simulator_url": "http://127.0.0.1:9", "gateway_timeout_seconds": 1.0}
        )
    )
    rt.payments.config = replace(rt.payments.config, retry_initial_seconds=0.001)
    try:
        m = make_merchant(rt)
        with TestClient(create_app(rt, run_workers=False)) as client:
            client.headers.update(m.headers)
            r = client.post("/v1/payment_intents", data=FORM)
            assert r.status_code == 502
            err = r.json()["error"]
            assert err["code"] == "gateway_unavailable"
            assert err["payment_intent"]["status"] == "requires_payment_method"
    finally:
        rt.close()
