"""Failover across connectors over HTTP: a new attempt only when nothing was charged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from routing_helpers import add_account, attempts, confirm, set_routing

from strongbox.connectors.base import (
    OperationKind,
    OperationResult,
    RetryableError,
    StatusRequest,
)
from strongbox.connectors.simulator import SimulatorConnector
from strongbox.core.params import validate_params
from strongbox.events.types import RequestContext
from strongbox.payments import gateway, intents
from strongbox.payments.schemas import CreatePaymentIntentParams
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import Merchant, error_of, expire_leases


def two_gateways(api: TestClient) -> tuple[str, str]:
    a = add_account(api, "sim_a")["id"]
    b = add_account(api, "sim_b")["id"]
    set_routing(api, {"default": {"connectors": [a, b]}})
    return a, b


def charged(engine: Any, pi_id: str) -> int:
    return sum(c.captured_amount for c in engine.charges() if c.payment_id == pi_id)


def test_retryable_error_fails_over_to_the_next_connector(api: TestClient, gateways: Any) -> None:
    a, b = two_gateways(api)
    # One call plus two retries on A, all refused before processing.
    gateways.a.inject("error_5xx", operations={OperationKind.AUTHORIZE}, count=3)
    r = confirm(api)
    assert r.status_code == 200, r.text
    pi = r.json()
    assert pi["status"] == "succeeded"
    assert (charged(gateways.a, pi["id"]), charged(gateways.b, pi["id"])) == (0, 2000)
    first, second = attempts(api, pi["id"])
    assert (first["connector_account"], first["status"]) == (a, "failed")
    assert first["error_code"] == "RetryableError"
    assert (second["connector_account"], second["status"]) == (b, "succeeded")
    assert second["routing"]["position"] == 1
    assert second["routing"]["failover_from"] == first["id"]
    assert "failover #2" in second["routing_reason"]
    assert first["routing"]["rule"] == "default"
    assert first["routing"]["ranked"] == [a, b]
    # Later operations go to the connector that holds the payment.
    refund = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "500"})
    assert refund.status_code == 200, refund.text
    assert sum(c.refunded_amount for c in gateways.b.charges()) == 500


def test_no_failover_after_a_decline(api: TestClient, gateways: Any) -> None:
    two_gateways(api)
    r = confirm(api, "pm_card_chargeDeclinedInsufficientFunds")
    err = error_of(r, 402, type_="card_error")
    assert err["decline_code"] == "insufficient_funds"
    assert gateways.b.operations() == []
    assert len(gateways.a.operations()) == 1


def test_no_failover_after_an_unknown_outcome(
    api: TestClient, runtime: Runtime, gateways: Any
) -> None:
    two_gateways(api)
    gateways.a.inject("drop_response", operations={OperationKind.AUTHORIZE})
    r = confirm(api)
    assert r.status_code == 200, r.text
    pi = r.json()
    assert pi["status"] == "processing"  # pending until the lookup resolves it
    assert gateways.b.operations() == []
    assert charged(gateways.a, pi["id"]) == 2000  # A did charge: failing over would double it
    assert recover_once(runtime, min_age=timedelta(0)) == 1
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "succeeded"
    assert gateways.b.operations() == []


def test_last_connector_failing_is_a_clean_retryable_error(api: TestClient, gateways: Any) -> None:
    two_gateways(api)
    gateways.a.inject("error_5xx", count=3)
    gateways.b.inject("error_5xx", count=3)
    err = error_of(confirm(api), 502)
    assert err["code"] == "gateway_unavailable"
    pi = err["payment_intent"]
    assert pi["status"] == "requires_payment_method"
    assert [x["status"] for x in attempts(api, pi["id"])] == ["failed", "failed"]
    assert gateways.a.charges() == []
    assert gateways.b.charges() == []


def test_open_circuit_routes_straight_to_the_next_connector(
    api: TestClient, merchant: Merchant, gateways: Any
) -> None:
    a, b = two_gateways(api)
    gateways.a.inject("error_5xx", count=9)  # three payments' worth: fail_max is 3 calls
    assert confirm(api).json()["status"] == "succeeded"  # A failed 3 times: circuit opens
    health = {h["target"]: h for h in api.get("/v1/routing/health").json()["data"]}
    assert health[a]["state"] == "open"
    assert health[a]["technical_errors"] == 3
    assert health[b]["state"] == "closed"
    [armed] = gateways.a.faults()
    assert armed.remaining == 6
    pi = confirm(api).json()
    assert pi["status"] == "succeeded"
    [only] = attempts(api, pi["id"])  # A was not even tried
    assert only["connector_account"] == b
    assert "circuit open" in only["routing"]["reason"]
    assert gateways.a.faults()[0].remaining == 6  # not one request reached A
    from prometheus_client import generate_latest

    metrics = generate_latest().decode()  # the metrics listener's content
    assert f'strongbox_circuit_state{{merchant="{merchant.id}",target="{a}"}} 2.0' in metrics
    assert "strongbox_failovers_total" in metrics


class FlakyLookups(SimulatorConnector):
    """Status lookups fail (the gateway's API is down) while ``down`` is set."""

    down = True

    def get_status(self, request: StatusRequest) -> OperationResult:
        if FlakyLookups.down:
            raise RetryableError("lookup API unavailable")
        return super().get_status(request)


def test_a_failed_lookup_neither_fails_over_nor_fails_the_payment(
    api: TestClient, runtime: Runtime, merchant: Merchant, gateways: Any
) -> None:
    two_gateways(api)
    ctx = RequestContext(merchant_id=merchant.id, actor="test")
    params = validate_params(
        CreatePaymentIntentParams,
        {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
    )
    with runtime.db.unit_of_work() as uow:
        step = intents.create(runtime.payments, uow, ctx, params)
        uow.commit()
    assert step.call is not None
    # charged at A; the process dies before recording it, and its lease runs out
    gateway.execute(runtime.payments, step.call)
    expire_leases(runtime)
    engine_a = gateways.a
    runtime.connectors.register("sim_a", lambda: FlakyLookups(engine_a))
    FlakyLookups.down = True
    assert recover_once(runtime, min_age=timedelta(0)) == 1
    pi_id = step.call.request.payment_id  # type: ignore[union-attr]
    assert api.get(f"/v1/payment_intents/{pi_id}").json()["status"] == "processing"
    assert gateways.b.operations() == []  # no failover on a failed lookup
    [attempt] = attempts(api, pi_id)
    assert attempt["status"] == "unknown"
    FlakyLookups.down = False
    assert recover_once(runtime, min_age=timedelta(0)) == 1
    assert api.get(f"/v1/payment_intents/{pi_id}").json()["status"] == "succeeded"
    assert charged(engine_a, pi_id) == 2000
    assert gateways.b.operations() == []
