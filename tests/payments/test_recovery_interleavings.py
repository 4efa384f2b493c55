"""Property: a slow live request and recovery passes, interleaved in every order, never lose
or double a charge (issue 23 item 1).

The live request's gateway call is taken apart into the moments that matter: phase 1 commits
the attempt (and its lease), each try reaches the gateway (refused before processing, done,
done with the answer lost, or hung unprocessed), the answer comes back and phase 2 records
it. A hung request may still be done by the gateway later (a straggler), whose success the
gateway reports by webhook. Recovery passes run between any two moments, either while the
live request holds its lease (a live process: recovery must leave the attempt alone) or after
the lease ran out (a process stalled past its lease: recovery takes over, and whatever the
live request learns afterwards is reconciled). Gateways with and without idempotency keys.

Afterwards, once every lease has run out and recovery has settled what is left:
* nothing is left unfinished, and the intent is succeeded or waiting for a payment method;
* the gateway holds exactly the intent's money: one charge of 2,000 if it succeeded, none
  otherwise (every other charge given back), and the ledger posted exactly that;
* the ledger's balances agree with its transfers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    OperationResult,
    RetryableError,
    UnknownOutcomeError,
)
from strongbox.connectors.simulator.connector import ALL_CAPABILITIES, SimulatorConnector
from strongbox.core.params import validate_params
from strongbox.events.types import RequestContext
from strongbox.ledger.handlers import capture_id
from strongbox.ledger.verify import verify_ledger
from strongbox.payments import gateway, gateway_reports, intents, outcomes
from strongbox.payments.models import PaymentAttempt
from strongbox.payments.reports import GatewayReport, ReportKind
from strongbox.payments.schemas import CreatePaymentIntentParams
from strongbox.payments.steps import GatewayCall, GatewayOutcome, Step
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import Merchant, expire_leases

FORM = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


class NoKeySimulator(SimulatorConnector):
    capabilities = ALL_CAPABILITIES & ~Capability.IDEMPOTENT_REPLAY


passes = st.lists(st.sampled_from(["alive", "lapsed"]), max_size=2)
final_try = st.sampled_from(["ok", "drop", "hang"])
scripts = st.fixed_dictionaries(
    {
        "replay": st.booleans(),
        "refused": st.integers(min_value=0, max_value=3),  # 5xx before processing
        "final": final_try,
        "straggler": st.booleans(),  # a hung request is done by the gateway later
        "gaps": st.lists(passes, min_size=6, max_size=6),
    }
)


def _recover(rt: Runtime, mode: str) -> None:
    if mode == "lapsed":
        expire_leases(rt)
    recover_once(rt, min_age=timedelta(0))


def _run_chain(rt: Runtime, ctx: RequestContext, step: Step, outcome: GatewayOutcome) -> None:
    """Phase 2 as the edge runs it: record, then any chained call (capture, reversal)."""
    while step.call is not None:
        with rt.db.unit_of_work() as uow:
            step = outcomes.finish(rt.payments, uow, ctx, step.call, outcome)
            uow.commit()
        if step.call is not None:
            outcome = gateway.execute(rt.payments, step.call)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=scripts)
def test_live_request_and_recovery_in_any_order(
    api: TestClient, runtime: Runtime, merchant: Merchant, script: dict[str, Any]
) -> None:
    note(f"script: {script}")
    rt = runtime
    engine = rt.simulator
    assert engine is not None
    if script["replay"]:
        rt.connectors.register("simulator", lambda: SimulatorConnector(engine))
    else:
        rt.connectors.register("simulator", lambda: NoKeySimulator(engine))
    gaps: list[list[str]] = script["gaps"]
    ctx = RequestContext(merchant_id=merchant.id, actor="test")

    # Phase 1: the attempt is recorded, held by the live request's lease.
    with rt.db.unit_of_work() as uow:
        step = intents.create(
            rt.payments, uow, ctx, validate_params(CreatePaymentIntentParams, FORM)
        )
        uow.commit()
    assert step.call is not None
    assert step.intent is not None
    call: GatewayCall = step.call
    pi_id = step.intent.id
    assert isinstance(call.request, AuthorizeRequest)
    request: AuthorizeRequest = call.request
    for mode in gaps[0]:
        _recover(rt, mode)

    # The live request's tries, each with recovery passes after it.
    tries = min(script["refused"], 3)
    outcome: GatewayOutcome
    result: OperationResult | None = None
    for _ in range(tries):  # refused before processing: the request retries with its key
        for mode in gaps[1]:
            _recover(rt, mode)
    if tries == 3:  # every try refused: the gateway is down, nothing was charged
        outcome = GatewayOutcome(error=RetryableError("503 before processing"))
    elif script["final"] == "ok":
        outcome = GatewayOutcome(result=engine.process_authorize(request))
    elif script["final"] == "drop":
        engine.process_authorize(request)  # done, but the answer is lost on the way back
        outcome = GatewayOutcome(error=UnknownOutcomeError("read timeout after sending"))
    else:  # hung unprocessed until the live request gave up
        outcome = GatewayOutcome(error=UnknownOutcomeError("read timeout"))
    for mode in gaps[2]:
        _recover(rt, mode)

    # Phase 2: the live request records what it learned.
    _run_chain(rt, ctx, Step(call=call), outcome)
    for mode in gaps[3]:
        _recover(rt, mode)

    # A hung request the gateway does after all, and reports by webhook.
    if tries < 3 and script["final"] == "hang" and script["straggler"]:
        result = engine.process_authorize(request)
        for mode in gaps[4]:
            _recover(rt, mode)
        report = GatewayReport(
            kind=ReportKind.PAYMENT_CAPTURED,
            connector="simulator",
            idempotency_key=request.idempotency_key,
            gateway_reference=result.gateway_reference,
            amount=result.amount,
        )
        with rt.db.unit_of_work() as uow:
            gateway_reports.apply(rt.payments, uow, ctx, report)
            uow.commit()
        _settle_chained(rt, ctx, pi_id)
    for mode in gaps[5]:
        _recover(rt, mode)

    # Every process that held a lease is gone; recovery settles what is left.
    for _ in range(4):
        expire_leases(rt)
        recover_once(rt, min_age=timedelta(0))
    _check(api, rt, merchant, pi_id)


def _settle_chained(rt: Runtime, ctx: RequestContext, pi_id: str) -> None:
    """A webhook's reconciliation may start a reversal: the inbound worker's transaction
    records it, and recovery sends it (the webhook path has no edge waiting to)."""
    expire_leases(rt)
    recover_once(rt, min_age=timedelta(0))


def _check(api: TestClient, rt: Runtime, merchant: Merchant, pi_id: str) -> None:
    engine = rt.simulator
    assert engine is not None
    pi = api.get(f"/v1/payment_intents/{pi_id}").json()
    with rt.db.reader() as uow:
        open_ = [
            a.id
            for a in uow.session.query(PaymentAttempt).filter_by(payment_intent_id=pi_id)
            if a.status in ("started", "unknown")
        ]
        posted = rt.ledger.find_transfers(uow.session, merchant.id, [capture_id(pi_id)])
        ledger_ok = verify_ledger(uow.session).ok
    assert open_ == [], f"left unfinished: {open_}"
    assert pi["status"] in ("succeeded", "requires_payment_method"), pi["status"]
    charges = [c for c in engine.charges() if c.payment_id == pi_id]
    kept = [c for c in charges if c.captured_amount - c.refunded_amount > 0]
    held = [c for c in charges if c.status.value == "authorized"]
    assert held == [], "an authorization was left hanging"
    if pi["status"] == "succeeded":
        assert pi["amount_received"] == 2000
        assert [c.captured_amount - c.refunded_amount for c in kept] == [2000]
        assert posted[capture_id(pi_id)].amount == 2000
    else:
        assert kept == [], "charged although the intent did not succeed"
        assert capture_id(pi_id) not in posted
    assert ledger_ok
