"""PaymentIntents: create (and, with ``confirm=true``, start the authorization at once),
retrieve, list and update with Stripe's rules on what may change in which status."""

from __future__ import annotations

from strongbox.core.errors import InvalidRequestError, UnexpectedStateError
from strongbox.core.ids import new_id, random_token
from strongbox.core.money import parse_currency, validate_amount
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments import confirm, payment_methods, store
from strongbox.payments import repository as repo
from strongbox.payments.common import (
    abandon_action,
    add_history,
    check_pm_customer,
    diff,
    intent_event,
    merge_metadata,
    open_challenge,
    require_customer,
    require_intent,
    set_status,
)
from strongbox.payments.deps import Payments
from strongbox.payments.models import PaymentIntent, PaymentMethod
from strongbox.payments.schemas import (
    CreatePaymentIntentParams,
    UpdatePaymentIntentParams,
    render_intent,
)
from strongbox.payments.state import Status, Trigger
from strongbox.payments.steps import Step

S = Status


def validate_create(p: CreatePaymentIntentParams) -> None:
    """Rules that need no database; called before the idempotency key is taken."""
    currency = parse_currency(p.currency)
    validate_amount(p.amount, currency)
    check_types(p.payment_method_types)
    if p.confirm is False and p.return_url is not None:
        raise InvalidRequestError(
            "return_url can only be passed when confirm=true.", param="return_url"
        )


PAYMENT_METHOD_TYPES = ("card", "us_bank_account")


def check_types(types: list[str] | None) -> None:
    bad = [t for t in types or [] if t not in PAYMENT_METHOD_TYPES]
    if bad:
        raise InvalidRequestError(
            f"The payment method type {bad[0]!r} is invalid. Strongbox supports: "
            + ", ".join(PAYMENT_METHOD_TYPES)
            + ".",
            param="payment_method_types",
            code="payment_method_invalid_parameter",
        )


def validate_update(p: UpdatePaymentIntentParams) -> None:
    check_types(p.payment_method_types)
    if p.currency is not None:
        currency = parse_currency(p.currency)
        if p.amount is not None:
            validate_amount(p.amount, currency)


def create(
    deps: Payments, uow: UnitOfWork, ctx: RequestContext, p: CreatePaymentIntentParams
) -> Step:
    validate_create(p)
    currency = parse_currency(p.currency)
    if p.customer:
        require_customer(uow, ctx, p.customer)
    now = uow.clock.now()
    pi_id = new_id("payment_intent")
    pi = store.add_intent(
        uow,
        store.new_intent(
            {
                "id": pi_id,
                "merchant_id": ctx.merchant_id,
                "livemode": ctx.livemode,
                "amount": p.amount,
                "currency": currency.code.lower(),
                "settlement_currency": ctx.settlement_currency,
                "status": S.REQUIRES_PAYMENT_METHOD.value,
                "capture_method": p.capture_method,
                "confirmation_method": p.confirmation_method,
                "customer_id": p.customer or None,
                "payment_method_id": None,
                "payment_method_types": list(p.payment_method_types or ["card"]),
                "description": p.description or None,
                "receipt_email": p.receipt_email or None,
                "statement_descriptor": p.statement_descriptor or None,
                "return_url": p.return_url,
                "setup_future_usage": p.setup_future_usage or None,
                "metadata_": merge_metadata({}, p.metadata),
                "amount_capturable": 0,
                "amount_received": 0,
                "amount_refunded": 0,
                "amount_refund_pending": 0,
                "cancellation_reason": None,
                "canceled_at": None,
                "client_secret": f"{pi_id}_secret_{random_token(25)}",
                "last_payment_error": None,
                "next_action": None,
                "latest_charge": None,
                "connector": None,
                "gateway_reference": None,
                "pending_operation": None,
                "created": now,
                "updated": now,
            }
        ),
    )
    add_history(uow, ctx, pi.merchant_id, pi.id, None, pi.status, "api.create")
    pm: PaymentMethod | None = None
    if p.payment_method:
        pm = payment_methods.resolve(uow, ctx, p.payment_method)
        check_pm_customer(pm, pi)
        pi.payment_method_id = pm.id
        set_status(uow, ctx, pi, Trigger.ATTACH_PAYMENT_METHOD, "api.create")
    intent_event(uow, ctx, "payment_intent.created", pi)
    if p.confirm:
        return confirm.start(deps, uow, ctx, pi, cause="api.create_confirm", pm=pm)
    return Step(intent=pi)


def retrieve(uow: UnitOfWork, ctx: RequestContext, intent_id: str) -> PaymentIntent:
    return require_intent(uow, ctx, intent_id)


def list_(
    uow: UnitOfWork,
    ctx: RequestContext,
    page: PageRequest,
    customer: str | None,
    created: dict[str, int] | None,
) -> Page[PaymentIntent]:
    return repo.list_intents(uow.session, ctx.merchant_id, page, customer=customer, created=created)


_MONEY_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "payment_method",
        "capture_method",
        "customer",
        "payment_method_types",
        "setup_future_usage",
    }
)
_UPDATABLE = frozenset({S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION})


def update(
    uow: UnitOfWork, ctx: RequestContext, intent_id: str, p: UpdatePaymentIntentParams
) -> PaymentIntent:
    validate_update(p)
    pi = require_intent(uow, ctx, intent_id, lock=True)
    before = render_intent(None, pi)
    fields = p.model_fields_set - {"expand"}
    status = Status(pi.status)
    money = sorted(fields & _MONEY_FIELDS)
    if money and status == S.REQUIRES_ACTION and open_challenge(uow, pi) is not None:
        # The customer could still complete the challenge at the gateway and be charged for
        # the old terms: only cancel (which voids it there) may end it from here.
        raise UnexpectedStateError(
            f"You cannot update this PaymentIntent's {money[0]} while a 3D Secure "
            "authentication is in progress. Wait for the customer to complete or fail it, or "
            "cancel the PaymentIntent.",
            param=money[0],
            payment_intent=before,
        )
    if money and (status not in _UPDATABLE or pi.pending_operation):
        raise UnexpectedStateError(
            f"You cannot update this PaymentIntent's {money[0]} "
            f"because it has a status of {status.value}.",
            param=money[0],
            payment_intent=before,
        )
    currency = parse_currency(p.currency) if p.currency is not None else parse_currency(pi.currency)
    if p.amount is not None or p.currency is not None:
        amount = p.amount if p.amount is not None else pi.amount
        validate_amount(amount, currency)
        pi.amount = amount
        pi.currency = currency.code.lower()
    if p.capture_method is not None:
        pi.capture_method = p.capture_method
    if "customer" in fields:
        if p.customer:
            require_customer(uow, ctx, p.customer)
        pi.customer_id = p.customer or None
    if "description" in fields:
        pi.description = p.description or None
    if "receipt_email" in fields:
        pi.receipt_email = p.receipt_email or None
    if "statement_descriptor" in fields:
        pi.statement_descriptor = p.statement_descriptor or None
    if "setup_future_usage" in fields:
        pi.setup_future_usage = p.setup_future_usage or None
    if p.payment_method_types is not None:
        pi.payment_method_types = list(p.payment_method_types)
    if p.metadata is not None:
        pi.metadata_ = merge_metadata(dict(pi.metadata_ or {}), p.metadata)
    if "payment_method" in fields:
        if p.payment_method:
            pm = payment_methods.resolve(uow, ctx, p.payment_method)
            check_pm_customer(pm, pi)
            pi.payment_method_id = pm.id
            set_status(uow, ctx, pi, Trigger.ATTACH_PAYMENT_METHOD, "api.update")
        else:
            pi.payment_method_id = None
            set_status(uow, ctx, pi, Trigger.DETACH_PAYMENT_METHOD, "api.update")
        if status == S.REQUIRES_ACTION:
            abandon_action(uow, pi)
    pi.updated = uow.clock.now()
    after = render_intent(None, pi)
    changed = diff(before, after)
    if changed:
        intent_event(uow, ctx, "payment_intent.updated", pi, changed)
    return pi
