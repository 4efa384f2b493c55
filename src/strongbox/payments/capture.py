"""Capture an authorization (in full or in part) and cancel a PaymentIntent (voiding its
authorization, or an open 3DS challenge, at the gateway first)."""

from __future__ import annotations

from strongbox.connectors.base import CaptureRequest, OperationKind, VoidRequest
from strongbox.core.errors import InvalidRequestError
from strongbox.core.money import parse_currency, validate_partial_amount
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments.common import (
    abandon_action,
    check_no_operation,
    gateway_call,
    intent_event,
    merge_metadata,
    new_attempt,
    require_intent,
    require_transition,
    set_status,
)
from strongbox.payments.deps import Payments
from strongbox.payments.models import PaymentIntent
from strongbox.payments.schemas import (
    CancelPaymentIntentParams,
    CapturePaymentIntentParams,
    render_intent,
)
from strongbox.payments.state import Status, Trigger
from strongbox.payments.steps import Step

S = Status


def begin_capture(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    intent_id: str,
    p: CapturePaymentIntentParams,
) -> Step:
    pi = require_intent(uow, ctx, intent_id, lock=True)
    check_no_operation(pi, Trigger.CAPTURE)
    require_transition(pi, Trigger.CAPTURE)
    amount = pi.amount_capturable
    if p.amount_to_capture is not None:
        currency = parse_currency(pi.currency)
        amount = validate_partial_amount(p.amount_to_capture, currency, "amount_to_capture")
        if amount > pi.amount_capturable:
            raise InvalidRequestError(
                f"The amount to capture ({amount}) is greater than the amount capturable "
                f"({pi.amount_capturable}).",
                code="amount_too_large",
                param="amount_to_capture",
                payment_intent=render_intent(None, pi),
            )
    if p.metadata is not None:
        pi.metadata_ = merge_metadata(dict(pi.metadata_ or {}), p.metadata)
    attempt = new_attempt(deps, uow, ctx, pi, OperationKind.CAPTURE, pi.connector or "", amount)
    pi.pending_operation = OperationKind.CAPTURE.value
    pi.updated = uow.clock.now()
    request = CaptureRequest(
        idempotency_key=attempt.gateway_idempotency_key,
        gateway_reference=pi.gateway_reference or "",
        amount=amount,
        currency=pi.currency,
        merchant_id=pi.merchant_id,
    )
    return Step(intent=pi, call=gateway_call(deps, uow, attempt, request))


def begin_cancel(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    intent_id: str,
    p: CancelPaymentIntentParams,
) -> Step:
    pi = require_intent(uow, ctx, intent_id, lock=True)
    check_no_operation(pi, Trigger.CANCEL)
    status = Status(pi.status)
    # An authorization, or a 3DS challenge still open at the gateway, must be voided there
    # first: otherwise the customer could still complete the challenge and be charged.
    if status == S.REQUIRES_CAPTURE or (status == S.REQUIRES_ACTION and pi.gateway_reference):
        attempt = new_attempt(deps, uow, ctx, pi, OperationKind.VOID, pi.connector or "", 0)
        pi.pending_operation = OperationKind.VOID.value
        pi.cancellation_reason = p.cancellation_reason
        pi.updated = uow.clock.now()
        request = VoidRequest(
            idempotency_key=attempt.gateway_idempotency_key,
            gateway_reference=pi.gateway_reference or "",
            merchant_id=pi.merchant_id,
        )
        return Step(intent=pi, call=gateway_call(deps, uow, attempt, request))
    set_status(uow, ctx, pi, Trigger.CANCEL, "api.cancel")
    if status == S.REQUIRES_ACTION:
        abandon_action(uow, pi)
    mark_canceled(uow, ctx, pi, p.cancellation_reason)
    return Step(intent=pi)


def mark_canceled(
    uow: UnitOfWork, ctx: RequestContext, pi: PaymentIntent, reason: str | None
) -> None:
    pi.cancellation_reason = reason
    pi.canceled_at = uow.clock.now()
    pi.amount_capturable = 0
    pi.next_action = None
    pi.pending_operation = None
    intent_event(uow, ctx, "payment_intent.canceled", pi)
