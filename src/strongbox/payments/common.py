"""Helpers every payment use case shares: loading with tenancy, status changes with their
history row, attempts and the gateway call they lead to, events, metadata rules."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from strongbox.connectors.base import OperationKind
from strongbox.core import metrics
from strongbox.core.errors import InvalidRequestError, ResourceMissingError, UnexpectedStateError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import repository as repo
from strongbox.payments import store
from strongbox.payments.deps import Payments
from strongbox.payments.models import Customer, PaymentAttempt, PaymentIntent, PaymentMethod
from strongbox.payments.schemas import render_intent
from strongbox.payments.state import IllegalTransition, Status, Trigger, next_status
from strongbox.payments.steps import GatewayCall, GatewayRequest

#: ``payment_intent.succeeded``'s fact for its subscribers: whether an authorization came
#: first (its money was held and is now taken), or the gateway captured at once.
AUTHORIZED_FIRST = "authorized_first"
#: The fact for the ledger when the intent settles in another currency than its own: the
#: merchant's settlement currency recorded on the intent (absent when they are the same).
SETTLEMENT_CURRENCY = "settlement_currency"


def settlement_fact(pi: PaymentIntent) -> dict[str, Any] | None:
    """The ledger's fact for a payment that settles in another currency than its own."""
    sc = pi.settlement_currency
    return {SETTLEMENT_CURRENCY: sc} if sc and sc != pi.currency else None


def intent_event(
    uow: UnitOfWork,
    ctx: RequestContext,
    type_: str,
    pi: PaymentIntent,
    previous: dict[str, Any] | None = None,
    *,
    authorized_first: bool | None = None,
) -> None:
    obj = render_intent(None, pi)
    extra = settlement_fact(pi)
    if authorized_first is not None:
        extra = {**(extra or {}), AUTHORIZED_FIRST: authorized_first}
    raise_event(uow, ctx, type_, "payment_intent", pi.id, obj, previous=previous, extra=extra)


def require_transition(pi: PaymentIntent, trigger: Trigger) -> Status:
    """The status ``trigger`` leads to, or Stripe's unexpected-state error."""
    try:
        return next_status(Status(pi.status), trigger)
    except IllegalTransition as exc:
        raise UnexpectedStateError(str(exc), payment_intent=render_intent(None, pi)) from None


def set_status(
    uow: UnitOfWork,
    ctx: RequestContext,
    pi: PaymentIntent,
    trigger: Trigger,
    cause: str,
    attempt_id: str | None = None,
) -> Status:
    """Move the intent through the state machine; every change leaves a history row."""
    current = Status(pi.status)
    new = require_transition(pi, trigger)
    if new != current:
        pi.status = new.value
        add_history(uow, ctx, pi.merchant_id, pi.id, current.value, new.value, cause, attempt_id)
        metrics.PAYMENT_TRANSITIONS.labels(new.value).inc()
    pi.updated = uow.clock.now()
    return new


def require_intent(
    uow: UnitOfWork, ctx: RequestContext, intent_id: str, *, lock: bool = False
) -> PaymentIntent:
    pi = store.get_intent(uow, ctx.merchant_id, intent_id, lock=lock)
    if pi is None:
        raise ResourceMissingError(f"No such payment_intent: '{intent_id}'", param="intent")
    return pi


def add_history(
    uow: UnitOfWork,
    ctx: RequestContext,
    merchant_id: str,
    intent_id: str,
    from_status: str | None,
    to_status: str,
    cause: str,
    attempt_id: str | None = None,
) -> None:
    """One row of the intent's status history (every change of status leaves one)."""
    store.add_history(
        uow,
        {
            "merchant_id": merchant_id,
            "payment_intent_id": intent_id,
            "from_status": from_status,
            "to_status": to_status,
            "cause": cause,
            "attempt_id": attempt_id,
            "request_id": ctx.request_id,
            "created": uow.clock.now(),
        },
    )


def require_customer(
    uow: UnitOfWork, ctx: RequestContext, customer_id: str, param: str = "customer"
) -> Customer:
    cust = repo.get_customer(uow.session, ctx.merchant_id, customer_id)
    if cust is None:
        raise ResourceMissingError(f"No such customer: '{customer_id}'", param=param)
    return cust


def check_pm_customer(pm: PaymentMethod, pi: PaymentIntent) -> None:
    if pm.customer_id is not None and pm.customer_id != pi.customer_id:
        raise InvalidRequestError(
            f"The provided PaymentMethod ({pm.id}) is attached to another customer.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )


def check_no_operation(pi: PaymentIntent, trigger: Trigger) -> None:
    if pi.pending_operation:
        raise UnexpectedStateError(
            f"You cannot {trigger.value} this PaymentIntent because a "
            f"{pi.pending_operation} is in progress.",
            payment_intent=render_intent(None, pi),
        )


def new_attempt(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    pi: PaymentIntent,
    kind: OperationKind,
    connector: str,
    amount: int,
    *,
    capture: bool = False,
    refund_id: str | None = None,
    reason: str | None = None,
) -> PaymentAttempt:
    """A recovery point: the attempt exists (``started``) before its gateway call is made,
    held by the caller (``payments/lease.py``) until the call's outcome is recorded."""
    now = uow.clock.now()
    attempt_id = new_id("attempt")
    attempt = store.new_attempt(
        {
            "id": attempt_id,
            "merchant_id": pi.merchant_id,
            "payment_intent_id": pi.id,
            "kind": kind.value,
            "status": "started",
            "connector": connector,
            "gateway_idempotency_key": f"strongbox-{attempt_id}",
            "gateway_reference": (
                pi.gateway_reference if kind != OperationKind.AUTHORIZE else None
            ),
            "gateway_status": None,
            "amount": amount,
            "currency": pi.currency,
            "capture": capture,
            "refund_id": refund_id,
            "charge_id": pi.latest_charge,
            "request_idempotency_key_id": ctx.idempotency_record_id,
            "decline_code": None,
            "error_code": None,
            "error_message": None,
            "routing_reason": reason,
            "connector_account_id": (
                pi.connector_account_id if kind != OperationKind.AUTHORIZE else None
            ),
            "action_reference": None,
            "lookups": 0,
            "created": now,
            "updated": now,
            "finished_at": None,
            "lease_until": now + timedelta(seconds=deps.config.attempt_lease_seconds),
        }
    )
    return store.add_attempt(uow, attempt)


def gateway_call(
    deps: Payments, uow: UnitOfWork, attempt: PaymentAttempt, request: GatewayRequest
) -> GatewayCall:
    """The call an attempt leads to, with its connector account's credentials for one use."""
    if attempt.connector_account_id and deps.routing is not None:
        creds = deps.routing.credentials(
            uow.session, attempt.merchant_id, attempt.connector_account_id
        )
        request = dataclasses.replace(request, credentials=creds)
    return GatewayCall(
        attempt_id=attempt.id,
        merchant_id=attempt.merchant_id,
        connector=attempt.connector,
        kind=OperationKind(attempt.kind),
        request=request,
        connector_account_id=attempt.connector_account_id,
    )


def close(uow: UnitOfWork, attempt: PaymentAttempt, status: str) -> None:
    attempt.status = status
    attempt.finished_at = attempt.updated = uow.clock.now()


def open_challenge(uow: UnitOfWork, pi: PaymentIntent) -> PaymentAttempt | None:
    """The authorization attempt waiting for the customer's 3DS challenge, if any."""
    return store.open_attempt_for(
        uow, pi.merchant_id, pi.id, OperationKind.AUTHORIZE.value, "requires_action"
    )


def abandon_action(uow: UnitOfWork, pi: PaymentIntent) -> None:
    attempt = open_challenge(uow, pi)
    if attempt is not None:
        attempt.status = "failed"
        attempt.error_code = "abandoned"
        attempt.finished_at = attempt.updated = uow.clock.now()
    pi.next_action = None


def merge_metadata(current: dict[str, Any], update: dict[str, str] | str | None) -> dict[str, Any]:
    """Stripe semantics: an empty value removes the key; ``metadata=""`` removes every key."""
    if isinstance(update, str):
        return {}
    if not update:
        return current
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise InvalidRequestError(
            "You can specify up to 50 metadata keys.", param="metadata", code="parameter_invalid"
        )
    return merged


def address(value: Any) -> dict[str, Any] | None:
    if not value:
        return None
    data: dict[str, Any] = value.model_dump()
    return {k: data.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in before.items() if after.get(k) != v}
