"""An operator records what they found at the gateway for an attempt nobody can resolve
otherwise (no status lookup, or a webhook that never comes)."""

from __future__ import annotations

from datetime import datetime

from strongbox.connectors.base import OperationResult, OperationStatus
from strongbox.core.errors import (
    InvalidRequestError,
    ParameterMissingError,
    ResourceMissingError,
    UnexpectedStateError,
)
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import store
from strongbox.payments.deps import Payments
from strongbox.payments.outcomes import finish
from strongbox.payments.recovery import begin_lookup
from strongbox.payments.steps import GatewayOutcome, Step

#: What an operator may record for an unresolved attempt, per kind of operation.
OPERATOR_OUTCOMES: dict[str, tuple[str, ...]] = {
    "authorize": ("authorized", "captured", "declined", "not_processed"),
    "capture": ("captured", "declined", "not_processed"),
    "void": ("voided", "declined", "not_processed"),
    "refund": ("refunded", "declined", "not_processed"),
}

_STATUS = {
    "authorized": OperationStatus.AUTHORIZED,
    "captured": OperationStatus.CAPTURED,
    "declined": OperationStatus.DECLINED,
    "voided": OperationStatus.VOIDED,
    "refunded": OperationStatus.REFUNDED,
    "not_processed": OperationStatus.NOT_FOUND,
}


def resolve(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt_id: str,
    outcome: str,
    *,
    note: str,
    gateway_reference: str | None = None,
    decline_code: str | None = None,
    started_before: datetime | None = None,
) -> Step:
    """Record what an operator found at the gateway for an unresolved attempt.

    For gateways that cannot be asked (Adyen has no status lookup) and requests whose webhook
    never comes (one that never reached the gateway). Only an attempt with no gateway call in
    flight can be resolved: an ``unknown`` one, or a ``started`` one (the process died around
    the call) created before ``started_before`` (the recovery age). The outcome goes through
    ``finish`` and the state machine like a gateway's answer, with cause ``operator``, and the
    decision with its note is an audit entry in the same transaction.
    """
    attempt = store.get_attempt(uow, ctx.merchant_id, attempt_id, lock=True)
    if attempt is None:
        raise ResourceMissingError(f"No such attempt: '{attempt_id}'", param="attempt")
    now = uow.clock.now()
    if attempt.lease_until is not None and attempt.lease_until > now:
        raise UnexpectedStateError(
            f"Attempt {attempt.id} has a gateway call in flight (its lease runs until "
            f"{attempt.lease_until.isoformat()}): wait for it to end.",
            param="attempt",
        )
    stale_start = (
        attempt.status == "started"
        and started_before is not None
        # created, not updated: recovery's passes touch ``updated`` of an attempt it cannot
        # look up (no status lookup), and a call starts right after its attempt is created
        and attempt.created < started_before
    )
    if attempt.status != "unknown" and not stale_start:
        raise UnexpectedStateError(
            f"Attempt {attempt.id} is {attempt.status}: only an attempt whose outcome is "
            "unknown (or a start older than the recovery age) can be resolved by an "
            "operator.",
            param="attempt",
        )
    allowed = OPERATOR_OUTCOMES[attempt.kind]
    if attempt.kind == "authorize":
        # automatic capture: the gateway shows a capture; manual: an authorization
        other = "authorized" if attempt.capture else "captured"
        allowed = tuple(o for o in allowed if o != other)
    if outcome not in allowed:
        raise InvalidRequestError(
            f"Outcome {outcome!r} does not apply to this {attempt.kind} attempt; "
            f"use one of: {', '.join(allowed)}.",
            param="outcome",
        )
    if not note.strip():
        raise ParameterMissingError("Say what was checked at the gateway.", param="note")
    reference = gateway_reference or attempt.gateway_reference
    if outcome in ("authorized", "captured") and attempt.kind == "authorize" and not reference:
        raise ParameterMissingError(
            "A successful authorization needs the gateway's reference (e.g. Adyen's "
            "pspReference), so that it can be captured, voided and refunded.",
            param="gateway_reference",
        )
    status = _STATUS[outcome]
    declined = status == OperationStatus.DECLINED
    result = OperationResult(
        status=status,
        gateway_reference=reference,
        amount=attempt.amount,
        decline_code=(decline_code or "generic_decline") if declined else None,
        message="Resolved by an operator." if declined else None,
        raw_status=f"operator:{outcome}",
    )
    raise_event(
        uow,
        ctx,
        "strongbox.payment_attempt.resolved_by_operator",
        "payment_attempt",
        attempt.id,
        {
            "id": attempt.id,
            "object": "payment_attempt",
            "payment_intent": attempt.payment_intent_id,
            "kind": attempt.kind,
            "connector": attempt.connector,
            "outcome": outcome,
            "gateway_reference": reference,
            "decline_code": result.decline_code,
            "note": note.strip()[:500],
            "actor": ctx.actor,
        },
    )
    call = begin_lookup(deps, uow, attempt)
    step = finish(deps, uow, ctx, call, GatewayOutcome(result=result), cause="operator")
    step.extra["attempt"] = attempt  # as finished (the session's one object for the row)
    return step
