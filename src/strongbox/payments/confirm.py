"""Confirm: pick the gateway, write the authorization attempt (the recovery point), and hand
the edge one gateway call. Failover after a retryable error starts a new attempt on the next
gateway of the ranking, never for a decline or an unknown outcome."""

from __future__ import annotations

from strongbox.connectors.base import AuthorizeRequest, CardData, OperationKind, RetryableError
from strongbox.core.errors import InvalidRequestError, ResourceMissingError, UnexpectedStateError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments import bank_debit, payment_methods, store
from strongbox.payments.cards import VAULT_PREFIX
from strongbox.payments.common import (
    check_pm_customer,
    close,
    gateway_call,
    new_attempt,
    require_intent,
    require_transition,
    set_status,
)
from strongbox.payments.deps import Payments
from strongbox.payments.errors import technical_error
from strongbox.payments.models import PaymentAttempt, PaymentIntent, PaymentMethod
from strongbox.payments.schemas import ConfirmPaymentIntentParams, render_intent
from strongbox.payments.state import Trigger
from strongbox.payments.steps import GatewayCall, Step
from strongbox.routing.engine import PaymentFacts, RoutingDecision
from strongbox.routing.health import FAILOVERS, CircuitOpenError
from strongbox.routing.service import Route


def begin(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    intent_id: str,
    p: ConfirmPaymentIntentParams,
) -> Step:
    """``POST /v1/payment_intents/{id}/confirm``: apply the request's changes, then start."""
    pi = require_intent(uow, ctx, intent_id, lock=True)
    if pi.pending_operation:
        raise UnexpectedStateError(
            f"This PaymentIntent has a {pi.pending_operation} in progress; try again shortly.",
            payment_intent=render_intent(None, pi),
        )
    require_transition(pi, Trigger.CONFIRM)
    pm: PaymentMethod | None = None
    if p.payment_method:
        pm = payment_methods.resolve(uow, ctx, p.payment_method)
        check_pm_customer(pm, pi)
        pi.payment_method_id = pm.id
        set_status(uow, ctx, pi, Trigger.ATTACH_PAYMENT_METHOD, "api.confirm")
    if p.return_url is not None:
        pi.return_url = p.return_url
    if "receipt_email" in p.model_fields_set:
        pi.receipt_email = p.receipt_email or None
    if p.capture_method is not None:
        pi.capture_method = p.capture_method
    if "setup_future_usage" in p.model_fields_set:
        pi.setup_future_usage = p.setup_future_usage or None
    return start(deps, uow, ctx, pi, cause="api.confirm", pm=pm)


def start(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    pi: PaymentIntent,
    *,
    cause: str,
    pm: PaymentMethod | None = None,
) -> Step:
    """Route, write the attempt (``started``), move the intent to ``processing``: the
    authorization the edge then sends, outside any transaction."""
    if not pi.payment_method_id:
        raise UnexpectedStateError(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "To confirm the PaymentIntent, pass a payment_method.",
            param="payment_method",
            payment_intent=render_intent(None, pi),
        )
    if pm is None or pm.id != pi.payment_method_id:
        pm = store.get_payment_method(uow, ctx.merchant_id, pi.payment_method_id)
    if pm is None:
        raise ResourceMissingError(
            f"No such PaymentMethod: '{pi.payment_method_id}'", param="payment_method"
        )
    if pm.type != "card":  # us_bank_account (issue 20): an ACH debit, payments/bank_debit.py
        return bank_debit.start(deps, uow, ctx, pi, pm, cause)
    card: CardData | None = None
    if pm.gateway_token is not None:
        route = _pinned_route(deps, uow, pi, pm)
    else:
        card = deps.cards.card_data(uow, ctx, pm)
        route = _route_payment(deps, uow, pi, pm)
    attempt = new_attempt(
        deps,
        uow,
        ctx,
        pi,
        OperationKind.AUTHORIZE,
        route.connector,
        pi.amount,
        capture=pi.capture_method != "manual",
        reason=route.reason,
    )
    attempt.charge_id = new_id("charge")
    _record_route(attempt, pi, route)
    pi.last_payment_error = None
    pi.next_action = None
    pi.pending_operation = OperationKind.AUTHORIZE.value
    set_status(uow, ctx, pi, Trigger.CONFIRM, cause, attempt.id)
    call = gateway_call(deps, uow, attempt, authorize_request(attempt, pi, pm, card))
    return Step(intent=pi, call=_with_cvc_hint(call, pm))


def _with_cvc_hint(call: GatewayCall, pm: PaymentMethod) -> GatewayCall:
    """Only a vaulted card whose CVC was never used can have one in the vault."""
    call.holds_cvc = pm.card_source.startswith(VAULT_PREFIX) and pm.card_cvc_check == "unchecked"
    return call


def authorize_request(
    attempt: PaymentAttempt, pi: PaymentIntent, pm: PaymentMethod, card: CardData | None
) -> AuthorizeRequest:
    """The authorization an attempt stands for (the same request whenever it is re-sent)."""
    return AuthorizeRequest(
        idempotency_key=attempt.gateway_idempotency_key,
        amount=attempt.amount,
        currency=attempt.currency,
        capture=attempt.capture,
        card=card,
        token=pm.gateway_token if card is None else None,
        merchant_id=pi.merchant_id,
        payment_id=pi.id,
        return_url=pi.return_url,
        description=pi.description,
        metadata=dict(pi.metadata_ or {}),
    )


def _route_payment(deps: Payments, uow: UnitOfWork, pi: PaymentIntent, pm: PaymentMethod) -> Route:
    """The first connector for this payment, with the whole ranked decision."""
    if deps.routing is None:
        decision = RoutingDecision(ranked=(), rule="none", reason="default connector")
        return Route(deps.config.default_connector, None, decision, 0, ())
    facts = PaymentFacts(
        payment_id=pi.id,
        amount=pi.amount,
        currency=pi.currency,
        brand=pm.card_brand,
        card_country=pm.card_country,
        metadata={str(k): str(v) for k, v in (pi.metadata_ or {}).items()},
        manual_capture=pi.capture_method == "manual",
    )
    return deps.routing.route(uow.session, pi.merchant_id, facts)[0]


def _pinned_route(deps: Payments, uow: UnitOfWork, pi: PaymentIntent, pm: PaymentMethod) -> Route:
    """A gateway token's payment goes to the account that made it, and nowhere else."""
    if deps.routing is None or pm.connector_account_id is None:
        raise InvalidRequestError(
            "This PaymentMethod's gateway token has no connector account to use it.",
            param="payment_method",
            code="payment_method_unavailable",
        )
    try:
        return deps.routing.pinned(
            uow.session,
            pm.merchant_id,
            pm.connector_account_id,
            manual_capture=pi.capture_method == "manual",
        )
    except ResourceMissingError:
        raise InvalidRequestError(
            f"This PaymentMethod is a token of connector account {pm.connector_account_id}, "
            "which was deleted: the token cannot be used any more.",
            param="payment_method",
            code="payment_method_unavailable",
        ) from None


def _record_route(attempt: PaymentAttempt, pi: PaymentIntent, route: Route) -> None:
    attempt.connector_account_id = route.account_id
    attempt.routing = {
        **route.decision.as_record(route.position),
        "connectors": list(route.connectors),
    }
    pi.connector = route.connector
    pi.connector_account_id = route.account_id


def failover(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    error: RetryableError,
) -> Step | None:
    """After a retryable error (nothing was charged) or an open circuit: a NEW attempt on the
    next connector of the ranking, with its own idempotency key. Never called for a decline or
    an unknown outcome, so a payment is charged at most once."""
    record = attempt.routing or {}
    ranked = [str(a) for a in record.get("ranked") or []]
    connectors = [str(c) for c in record.get("connectors") or []]
    position = int(record.get("position") or 0) + 1
    if position >= len(ranked) or len(connectors) != len(ranked) or not pi.payment_method_id:
        return None
    pm = store.get_payment_method(uow, pi.merchant_id, pi.payment_method_id)
    if pm is None or pm.gateway_token is not None:
        return None  # a gateway token is pinned to its account: nothing to fail over to
    technical_error(attempt, error, pi)  # records the error on the old attempt
    close(uow, attempt, "failed")
    account, connector = ranked[position], connectors[position]
    why = "circuit open" if isinstance(error, CircuitOpenError) else "retryable error"
    previous = attempt.connector_account_id or attempt.connector
    reason = f"failover #{position + 1} to {account} after {why} on {previous}"
    new = new_attempt(
        deps,
        uow,
        ctx,
        pi,
        OperationKind.AUTHORIZE,
        connector,
        pi.amount,
        capture=attempt.capture,
        reason=reason[:200],
    )
    new.charge_id = new_id("charge")
    new.connector_account_id = account
    new.routing = {**record, "position": position, "failover_from": attempt.id, "reason": reason}
    pi.connector = connector
    pi.connector_account_id = account
    pi.updated = uow.clock.now()
    FAILOVERS.labels(attempt.connector, connector, why).inc()
    card = deps.cards.card_data(uow, ctx, pm)
    call = gateway_call(deps, uow, new, authorize_request(new, pi, pm, card))
    return Step(intent=pi, call=_with_cvc_hint(call, pm))
