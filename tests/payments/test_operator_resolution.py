"""An operator resolves an attempt whose outcome is unknown, through the state machine."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from strongbox.audit.models import AuditEntry
from strongbox.connectors.base import OperationKind
from strongbox.core.errors import (
    InvalidRequestError,
    ParameterMissingError,
    ResourceMissingError,
    UnexpectedStateError,
)
from strongbox.events.types import RequestContext
from strongbox.payments import intents, operator, recovery
from strongbox.payments.models import PaymentAttempt
from strongbox.runtime import Runtime
from support import Merchant, expire_leases

FORM = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def _sim(rt: Runtime) -> Any:
    assert rt.simulator is not None
    return rt.simulator


def _unknown_payment(api: TestClient, rt: Runtime, fault: str, **extra: str) -> dict[str, Any]:
    _sim(rt).inject(fault, operations={OperationKind.AUTHORIZE})
    pi: dict[str, Any] = api.post("/v1/payment_intents", data={**FORM, **extra}).json()
    assert pi["status"] == "processing"
    return pi


def _attempt(rt: Runtime, m: Merchant, pi_id: str, kind: str = "authorize") -> PaymentAttempt:
    ctx = RequestContext(merchant_id=m.id, actor="test")
    with rt.db.unit_of_work() as uow:
        rows = [a for a in recovery.attempts(uow, ctx, pi_id) if a.kind == kind]
        uow.session.expunge_all()
    return rows[-1]


def _resolve(rt: Runtime, m: Merchant, attempt_id: str, outcome: str, **kw: Any) -> Any:
    ctx = RequestContext(merchant_id=m.id, actor="cli")
    kw.setdefault("note", "checked in the gateway's dashboard")
    with rt.db.unit_of_work() as uow:
        step = operator.resolve(rt.payments, uow, ctx, attempt_id, outcome, **kw)
        uow.commit()
    return step


def test_captured_at_the_gateway_finishes_the_payment_and_posts_the_ledger(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _unknown_payment(api, runtime, "drop_response")
    [charge] = _sim(runtime).charges()
    a = _attempt(runtime, merchant, pi["id"])
    assert a.status == "unknown"
    _resolve(runtime, merchant, a.id, "captured", gateway_reference=charge.reference)
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["amount_received"] == 2000
    history = api.get(f"/v1/payment_intents/{pi['id']}/history").json()
    assert history["status_changes"][-1]["cause"] == "operator"
    txns = api.get("/v1/balance_transactions").json()["data"]
    assert sum(t["amount"] for t in txns if t["type"] == "charge") == 2000
    assert _sim(runtime).charges() == [charge]  # nothing was sent again
    with runtime.db.read() as s:
        [entry] = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "strongbox.payment_attempt.resolved_by_operator"
            )
        ).all()
        assert (entry.resource_id, entry.actor, entry.merchant_id) == (a.id, "cli", merchant.id)


def test_not_processed_fails_the_attempt_and_the_customer_can_retry(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _unknown_payment(api, runtime, "timeout")
    assert _sim(runtime).charges() == []
    a = _attempt(runtime, merchant, pi["id"])
    _resolve(runtime, merchant, a.id, "not_processed")
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "requires_payment_method"
    retry = api.post(f"/v1/payment_intents/{pi['id']}/confirm", data={}).json()
    assert retry["status"] == "succeeded"
    assert len(_sim(runtime).charges()) == 1


def test_declined_records_the_decline_code(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _unknown_payment(api, runtime, "timeout")
    a = _attempt(runtime, merchant, pi["id"])
    _resolve(runtime, merchant, a.id, "declined", decline_code="insufficient_funds")
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "requires_payment_method"
    assert after["last_payment_error"]["decline_code"] == "insufficient_funds"


def test_manual_capture_authorization_then_capture_through_the_api(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _unknown_payment(api, runtime, "drop_response", capture_method="manual")
    a = _attempt(runtime, merchant, pi["id"])
    with pytest.raises(InvalidRequestError) as wrong:
        _resolve(runtime, merchant, a.id, "captured", gateway_reference="x")
    assert wrong.value.param == "outcome"
    [charge] = _sim(runtime).charges()
    assert a.gateway_reference is None  # the answer was lost: the operator gives the reference
    _resolve(runtime, merchant, a.id, "authorized", gateway_reference=charge.reference)
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "requires_capture"
    captured = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={}).json()
    assert captured["status"] == "succeeded"
    assert [c.reference for c in _sim(runtime).charges()] == [charge.reference]


def test_refusals_change_nothing(api: TestClient, runtime: Runtime, merchant: Merchant) -> None:
    done = api.post("/v1/payment_intents", data=FORM).json()
    finished = _attempt(runtime, merchant, done["id"])
    with pytest.raises(UnexpectedStateError):
        _resolve(runtime, merchant, finished.id, "not_processed")
    with pytest.raises(ResourceMissingError):
        _resolve(runtime, merchant, "pa_doesnotexist", "not_processed")
    pi = _unknown_payment(api, runtime, "timeout")
    a = _attempt(runtime, merchant, pi["id"])
    with pytest.raises(InvalidRequestError) as bad:
        _resolve(runtime, merchant, a.id, "refunded")
    assert bad.value.param == "outcome"
    with pytest.raises(ParameterMissingError) as no_note:
        _resolve(runtime, merchant, a.id, "not_processed", note="  ")
    assert no_note.value.param == "note"
    if a.gateway_reference is None:
        with pytest.raises(ParameterMissingError) as no_ref:
            _resolve(runtime, merchant, a.id, "captured")
        assert no_ref.value.param == "gateway_reference"
    assert _attempt(runtime, merchant, pi["id"]).status == "unknown"
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "processing"
    with runtime.db.read() as s:
        assert (
            s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "strongbox.payment_attempt.resolved_by_operator"
                )
            ).all()
            == []
        )


def test_another_merchant_cannot_resolve_it(
    api: TestClient, runtime: Runtime, merchant: Merchant, new_merchant: Any
) -> None:
    pi = _unknown_payment(api, runtime, "timeout")
    a = _attempt(runtime, merchant, pi["id"])
    with pytest.raises(ResourceMissingError):
        _resolve(runtime, new_merchant(), a.id, "not_processed")
    assert _attempt(runtime, merchant, pi["id"]).status == "unknown"


def test_a_dead_start_is_resolvable_although_recovery_keeps_touching_it(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    """Recovery's passes bump ``updated`` of attempts it cannot look up (Adyen); the age that
    makes a ``started`` attempt resolvable is its creation's."""
    from datetime import UTC, datetime, timedelta

    from strongbox.core.params import validate_params
    from strongbox.payments.schemas import CreatePaymentIntentParams

    ctx = RequestContext(merchant_id=merchant.id, actor="test")
    with runtime.db.unit_of_work() as uow:
        step = intents.create(
            runtime.payments, uow, ctx, validate_params(CreatePaymentIntentParams, FORM)
        )
        uow.commit()
    assert step.intent is not None
    a = _attempt(runtime, merchant, step.intent.id)
    assert a.status == "started"
    with pytest.raises(UnexpectedStateError, match="in flight"):  # its process holds it
        _resolve(runtime, merchant, a.id, "not_processed", started_before=a.created)
    expire_leases(runtime)  # the process died: its lease ran out
    with runtime.db.unit_of_work() as uow:  # a recovery pass just touched it
        row = uow.session.get(PaymentAttempt, a.seq)
        assert row is not None
        row.updated = datetime.now(UTC) + timedelta(seconds=5)
        uow.commit()
    with pytest.raises(UnexpectedStateError):  # younger than the recovery age: may be in flight
        _resolve(runtime, merchant, a.id, "not_processed", started_before=a.created)
    later = a.created + timedelta(seconds=1)
    _resolve(runtime, merchant, a.id, "not_processed", started_before=later)
    assert _attempt(runtime, merchant, step.intent.id).status == "failed"
    assert runtime.simulator is not None
    assert runtime.simulator.charges() == []
