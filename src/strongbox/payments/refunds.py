"""Refunds: reserve the amount under the intent's row lock (parallel refunds cannot exceed
what was received), write the refund attempt, and hand the edge the gateway call."""

from __future__ import annotations

from strongbox.connectors.base import OperationKind, RefundRequest
from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.core.money import parse_currency, validate_partial_amount
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import repository as repo
from strongbox.payments import store
from strongbox.payments.common import (
    diff,
    gateway_call,
    merge_metadata,
    new_attempt,
    settlement_fact,
)
from strongbox.payments.deps import Payments
from strongbox.payments.models import Refund
from strongbox.payments.schemas import (
    CreateRefundParams,
    UpdateRefundParams,
    render_intent,
    render_refund,
)
from strongbox.payments.state import Status
from strongbox.payments.steps import Step


def validate(p: CreateRefundParams) -> None:
    if not p.payment_intent and not p.charge:
        raise InvalidRequestError(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            code="parameter_missing",
            param="payment_intent",
        )
    if p.payment_intent and p.charge:
        raise InvalidRequestError(
            "You may only specify one of these parameters: payment_intent, charge.",
            code="parameters_exclusive",
            param="charge",
        )
    if p.amount is not None and (isinstance(p.amount, bool) or p.amount < 1):
        raise InvalidRequestError(
            "Refund amount must be a positive integer.",
            code="parameter_invalid_integer",
            param="amount",
        )


def begin(deps: Payments, uow: UnitOfWork, ctx: RequestContext, p: CreateRefundParams) -> Step:
    validate(p)
    if p.charge:
        attempt = store.find_attempt_by_charge(uow, ctx.merchant_id, p.charge)
        if attempt is None:
            raise ResourceMissingError(f"No such charge: '{p.charge}'", param="charge")
        intent_id = attempt.payment_intent_id
    else:
        intent_id = p.payment_intent or ""
    pi = store.get_intent(uow, ctx.merchant_id, intent_id, lock=True)
    if pi is None:
        raise ResourceMissingError(f"No such payment_intent: '{intent_id}'", param="payment_intent")
    if pi.amount_received <= 0 or Status(pi.status) != Status.SUCCEEDED:
        hint = (
            " It is authorized but not captured: cancel it to release the funds."
            if pi.status == Status.REQUIRES_CAPTURE
            else ""
        )
        raise InvalidRequestError(
            f"This PaymentIntent ({pi.id}) does not have a successful charge to refund.{hint}",
            code="charge_not_refundable",
            param="payment_intent",
            payment_intent=render_intent(None, pi),
        )
    remaining = pi.amount_received - pi.amount_refunded - pi.amount_refund_pending
    currency = parse_currency(pi.currency)
    if remaining <= 0:
        raise InvalidRequestError(
            f"Charge {pi.latest_charge} has already been refunded.",
            code="charge_already_refunded",
            param="payment_intent" if p.payment_intent else "charge",
        )
    amount = remaining
    if p.amount is not None:
        amount = validate_partial_amount(p.amount, currency, "amount")
        if amount > remaining:
            raise InvalidRequestError(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining}).",
                code="amount_too_large",
                param="amount",
            )
    now = uow.clock.now()
    refund = store.add_refund(
        uow,
        store.new_refund(
            {
                "id": new_id("refund"),
                "merchant_id": ctx.merchant_id,
                "payment_intent_id": pi.id,
                "charge_id": pi.latest_charge,
                "amount": amount,
                "currency": pi.currency,
                "status": "pending",
                "reason": p.reason,
                "failure_reason": None,
                "metadata_": merge_metadata({}, p.metadata),
                "created": now,
                "updated": now,
            }
        ),
    )
    # Reserve the amount under the intent's row lock: parallel refunds cannot exceed it.
    pi.amount_refund_pending += amount
    pi.updated = now
    attempt = new_attempt(
        deps, uow, ctx, pi, OperationKind.REFUND, pi.connector or "", amount, refund_id=refund.id
    )
    raise_event(
        uow,
        ctx,
        "refund.created",
        "refund",
        refund.id,
        render_refund(None, refund, livemode=ctx.livemode),
        extra=settlement_fact(pi),
    )
    request = RefundRequest(
        idempotency_key=attempt.gateway_idempotency_key,
        gateway_reference=pi.gateway_reference or "",
        amount=amount,
        currency=pi.currency,
        merchant_id=pi.merchant_id,
        reason=p.reason,
    )
    return Step(intent=pi, refund=refund, call=gateway_call(deps, uow, attempt, request))


def retrieve(uow: UnitOfWork, ctx: RequestContext, refund_id: str) -> Refund:
    r = store.get_refund(uow, ctx.merchant_id, refund_id)
    if r is None:
        raise ResourceMissingError(f"No such refund: '{refund_id}'", param="id")
    return r


def update(uow: UnitOfWork, ctx: RequestContext, refund_id: str, p: UpdateRefundParams) -> Refund:
    r = retrieve(uow, ctx, refund_id)
    if p.metadata is not None:
        before = render_refund(None, r, livemode=ctx.livemode)
        r.metadata_ = merge_metadata(dict(r.metadata_ or {}), p.metadata)
        r.updated = uow.clock.now()
        after = render_refund(None, r, livemode=ctx.livemode)
        raise_event(uow, ctx, "refund.updated", "refund", r.id, after, previous=diff(before, after))
    return r


def list_(
    uow: UnitOfWork,
    ctx: RequestContext,
    page: PageRequest,
    payment_intent: str | None,
    charge: str | None,
    created: dict[str, int] | None,
) -> Page[Refund]:
    if charge:
        attempt = store.find_attempt_by_charge(uow, ctx.merchant_id, charge)
        if attempt is None:
            return Page(data=[], has_more=False)
        if payment_intent and payment_intent != attempt.payment_intent_id:
            return Page(data=[], has_more=False)
        payment_intent = attempt.payment_intent_id
    return repo.list_refunds(
        uow.session, ctx.merchant_id, page, payment_intent=payment_intent, created=created
    )
