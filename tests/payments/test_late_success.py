"""A gateway success that arrives after recovery resolved its attempt as failed is never
dropped (issue 23 item 1): recorded, reconciled, audited, logged as an error, raised as an event.

The gateway here is the simulator without idempotency keys (as Braintree): recovery finds no
record of a request that is in fact still on its way, and can only conclude "not charged";
then the request reaches the gateway after all (the straggler) and its success comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    OperationKind,
    OperationResult,
    OperationStatus,
)
from strongbox.connectors.simulator.connector import ALL_CAPABILITIES, SimulatorConnector
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.events.types import RequestContext
from strongbox.ledger.handlers import capture_id
from strongbox.payments import gateway, gateway_reports, outcomes
from strongbox.payments.deps import Payments
from strongbox.payments.reports import GatewayReport, ReportKind
from strongbox.payments.steps import GatewayCall, GatewayOutcome, Step
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import Merchant

FORM = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


class NoKeySimulator(SimulatorConnector):
    """The simulator as a gateway that takes no idempotency key: no replay."""

    capabilities = ALL_CAPABILITIES & ~Capability.IDEMPOTENT_REPLAY


@pytest.fixture
def engine(runtime: Runtime) -> SimulatorEngine:
    assert runtime.simulator is not None
    sim = runtime.simulator
    runtime.connectors.register("simulator", lambda: NoKeySimulator(sim))
    return sim


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[GatewayCall]]:
    """Every call the payments domain hands a gateway, in order."""
    calls: list[GatewayCall] = []
    execute = gateway.execute

    def spy(deps: Payments, call: GatewayCall) -> GatewayOutcome:
        calls.append(call)
        return execute(deps, call)

    monkeypatch.setattr(gateway, "execute", spy)
    return calls


def _failed_by_recovery(
    api: TestClient,
    runtime: Runtime,
    engine: SimulatorEngine,
    sent: list[GatewayCall],
    **extra: str,
) -> tuple[dict[str, Any], GatewayCall]:
    """A confirm whose request hangs at the gateway, unprocessed; recovery, finding nothing
    and unable to re-send, resolves it as not charged. Returns the intent and its call."""
    engine.inject("timeout", operations={OperationKind.AUTHORIZE})
    pi = api.post("/v1/payment_intents", data={**FORM, **extra}).json()
    assert pi["status"] == "processing"
    recover_once(runtime, min_age=timedelta(0))
    failed = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "processing_error"
    assert engine.charges() == []
    first = next(c for c in sent if isinstance(c.request, AuthorizeRequest))
    return failed, first


def _straggler_arrives(
    runtime: Runtime, engine: SimulatorEngine, call: GatewayCall, merchant: Merchant
) -> Step:
    """The first request reaches the gateway after all, and its answer reaches finish (as
    the live request that sent it would deliver it); chained calls run as at the edge."""
    assert isinstance(call.request, AuthorizeRequest)
    result = engine.process_authorize(call.request)
    ctx = RequestContext(merchant_id=merchant.id, actor="test")
    step = Step(call=call)
    outcome = GatewayOutcome(result=result)
    while step.call is not None:
        with runtime.db.unit_of_work() as uow:
            step = outcomes.finish(runtime.payments, uow, ctx, step.call, outcome)
            uow.commit()
        if step.call is not None:
            outcome = gateway.execute(runtime.payments, step.call)
    return step


def _events(api: TestClient, type_: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = api.get("/v1/events", params={"type": type_}).json()["data"]
    return data


def test_the_intent_takes_a_late_charge_it_still_waits_for(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    engine: SimulatorEngine,
    sent: list[GatewayCall],
    caplog: pytest.LogCaptureFixture,
) -> None:
    pi, call = _failed_by_recovery(api, runtime, engine, sent)
    with caplog.at_level(logging.ERROR, logger="strongbox.payments.late"):
        _straggler_arrives(runtime, engine, call, merchant)
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["amount_received"] == 2000
    assert after["last_payment_error"] is None
    [charge] = engine.charges()
    assert (charge.captured_amount, charge.refunded_amount) == (2000, 0)
    history = api.get(f"/v1/payment_intents/{pi['id']}/history").json()
    assert history["status_changes"][-1]["cause"] == "late_success"
    [attempt] = history["attempts"]
    assert attempt["status"] == "succeeded"
    assert after["latest_charge"]
    [event] = _events(api, "payment_attempt.late_success")
    late = event["data"]["object"]
    assert late["id"] == attempt["id"]
    assert late["late_outcome"]["applied"] == "payment_intent"
    assert late["late_outcome"]["status"] == "captured"
    with runtime.db.reader() as uow:
        posted = runtime.ledger.find_transfers(uow.session, merchant.id, [capture_id(pi["id"])])
    assert posted[capture_id(pi["id"])].amount == 2000
    assert any("late gateway success" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.ERROR for r in caplog.records)


def test_a_late_charge_the_intent_cannot_take_is_refunded_at_the_gateway(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    engine: SimulatorEngine,
    sent: list[GatewayCall],
) -> None:
    pi, call = _failed_by_recovery(api, runtime, engine, sent)
    # Meanwhile the customer paid again, and that payment succeeded.
    again = api.post(f"/v1/payment_intents/{pi['id']}/confirm", data={})
    assert again.json()["status"] == "succeeded"
    _straggler_arrives(runtime, engine, call, merchant)
    assert isinstance(call.request, AuthorizeRequest)
    key = call.request.idempotency_key
    [orphan] = [c for c in engine.charges() if c.authorize_idempotency_key == key]
    [paid_charge] = [c for c in engine.charges() if c.authorize_idempotency_key != key]
    assert (orphan.captured_amount, orphan.refunded_amount) == (2000, 2000)  # given back
    assert (paid_charge.captured_amount, paid_charge.refunded_amount) == (2000, 0)
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert (after["status"], after["amount_received"]) == ("succeeded", 2000)
    attempts = api.get(f"/v1/payment_intents/{pi['id']}/history").json()["attempts"]
    late, paid, reversal = attempts
    assert (late["status"], paid["status"]) == ("failed", "succeeded")
    assert (reversal["kind"], reversal["status"]) == ("refund", "succeeded")
    [event] = _events(api, "payment_attempt.late_success")
    assert event["data"]["object"]["late_outcome"]["applied"] == "reversal"
    [reversed_] = _events(api, "payment_attempt.reversed")
    assert reversed_["data"]["object"]["reverses"] == late["id"]
    with runtime.db.reader() as uow:  # the intent's one capture; the orphan never posted
        posted = runtime.ledger.find_transfers(uow.session, merchant.id, [capture_id(pi["id"])])
    assert posted[capture_id(pi["id"])].amount == 2000
    assert api.get("/v1/balance").json()["pending"][0]["amount"] == 2000  # once, not twice


def test_a_late_authorization_on_a_canceled_intent_is_voided(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    engine: SimulatorEngine,
    sent: list[GatewayCall],
) -> None:
    pi, call = _failed_by_recovery(api, runtime, engine, sent, capture_method="manual")
    canceled = api.post(f"/v1/payment_intents/{pi['id']}/cancel", data={})
    assert canceled.json()["status"] == "canceled"
    _straggler_arrives(runtime, engine, call, merchant)
    [charge] = engine.charges()
    assert charge.voided
    attempts = api.get(f"/v1/payment_intents/{pi['id']}/history").json()["attempts"]
    assert [(a["kind"], a["status"]) for a in attempts] == [
        ("authorize", "failed"),
        ("void", "succeeded"),
    ]
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "canceled"


def test_a_late_success_reported_by_webhook_is_reconciled_once(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    engine: SimulatorEngine,
    sent: list[GatewayCall],
) -> None:
    pi, call = _failed_by_recovery(api, runtime, engine, sent)
    assert isinstance(call.request, AuthorizeRequest)
    result = engine.process_authorize(call.request)
    report = GatewayReport(
        kind=ReportKind.PAYMENT_CAPTURED,
        connector="simulator",
        idempotency_key=call.request.idempotency_key,
        gateway_reference=result.gateway_reference,
        amount=2000,
    )
    ctx = RequestContext(merchant_id=merchant.id, actor="system:webhooks")
    for _ in range(2):  # delivered twice: the second changes nothing
        with runtime.db.unit_of_work() as uow:
            said = gateway_reports.apply(runtime.payments, uow, ctx, report)
            uow.commit()
    assert said.startswith("ignored")
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert (after["status"], after["amount_received"]) == ("succeeded", 2000)
    assert len(_events(api, "payment_attempt.late_success")) == 1
    assert len(_events(api, "payment_intent.succeeded")) == 1


def test_a_repeated_failure_is_not_a_late_success(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    engine: SimulatorEngine,
    sent: list[GatewayCall],
) -> None:
    pi, call = _failed_by_recovery(api, runtime, engine, sent)
    ctx = RequestContext(merchant_id=merchant.id, actor="test")
    declined = OperationResult(status=OperationStatus.DECLINED, decline_code="generic_decline")
    with runtime.db.unit_of_work() as uow:
        step = outcomes.finish(runtime.payments, uow, ctx, call, GatewayOutcome(result=declined))
        uow.commit()
    assert step.extra == {"already_finished": True}
    assert _events(api, "payment_attempt.late_success") == []
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == (
        "requires_payment_method"
    )
