"""Payment rules: intents, attempts, refunds, and recovery of unfinished gateway work.

Every operation that reaches a gateway runs in three steps, so that a crash at any point
leaves a state the recovery worker can finish without ever charging twice:

1. ``begin_*`` (in a unit of work): validate, lock the intent, write a ``PaymentAttempt``
   in status ``started`` with a gateway idempotency key derived from its id, move the intent
   (for confirm: to ``processing``), and return a ``GatewayCall``. The edge commits: this is
   the recovery point "attempt created".
2. ``execute`` (no transaction open): one connector call, retried with backoff only for
   errors the connector classifies as safe to retry.
3. ``finish`` (in a new unit of work): record the outcome on the attempt and the intent,
   raise events. An unknown outcome leaves the attempt ``unknown`` for the recovery worker,
   which asks the gateway (``begin_lookup`` → ``execute`` → ``finish``), never re-authorizes.

Services never commit; the edge does.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy.orm import object_session
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CaptureRequest,
    CardData,
    ConnectorError,
    InvalidTokenError,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RetryableError,
    StatusRequest,
    TokenDetails,
    TokenRequest,
    UnknownOutcomeError,
    VoidRequest,
)
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.core import metrics
from strongbox.core.errors import (
    CardError,
    GatewayError,
    InvalidRequestError,
    ParameterMissingError,
    ResourceMissingError,
    StrongboxError,
    UnexpectedStateError,
)
from strongbox.core.ids import new_id, random_token
from strongbox.core.money import parse_currency, validate_amount, validate_partial_amount
from strongbox.core.secret import Secret
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import repository as repo
from strongbox.payments.cards import VAULT_PREFIX, CardSource
from strongbox.payments.gateway_tokens import (
    GATEWAY_PREFIX,
    TokenTarget,
    card_fields,
    requested_token,
    token_error,
)
from strongbox.payments.models import (
    PII_FIELDS,
    Customer,
    Dispute,
    PaymentAttempt,
    PaymentIntent,
    PaymentMethod,
    Refund,
    StatusChange,
)
from strongbox.payments.reports import GatewayReport, ReportKind
from strongbox.payments.schemas import (
    CancelPaymentIntentParams,
    CapturePaymentIntentParams,
    ConfirmPaymentIntentParams,
    CreatePaymentIntentParams,
    CreatePaymentMethodParams,
    CreateRefundParams,
    CustomerParams,
    UpdatePaymentIntentParams,
    UpdateRefundParams,
    render_customer,
    render_dispute,
    render_intent,
    render_payment_method,
    render_refund,
)
from strongbox.payments.state import IllegalTransition, Status, Trigger, next_status
from strongbox.payments.test_methods import lookup_test_card
from strongbox.routing.engine import PaymentFacts, RoutingDecision
from strongbox.routing.health import FAILOVERS, CircuitOpenError, ConnectorHealth
from strongbox.routing.service import Route, RoutingService
from strongbox.vault.cards import validate_card
from strongbox.vault.service import VaultService, normalize_email

log = logging.getLogger(__name__)

T = TypeVar("T")


def _status_label(result: OperationResult) -> str:
    return result.status.value


S = Status

# Stripe error codes for decline codes (``last_payment_error.code``).
_DECLINE_TO_CODE = {
    "insufficient_funds": "card_declined",
    "lost_card": "card_declined",
    "stolen_card": "card_declined",
    "generic_decline": "card_declined",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "processing_error": "processing_error",
    "incorrect_number": "incorrect_number",
    "payment_intent_authentication_failure": "payment_intent_authentication_failure",
}
_DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card has been declined.",
    "stolen_card": "Your card has been declined.",
    "generic_decline": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "incorrect_number": "Your card number is incorrect.",
    "payment_intent_authentication_failure": (
        "We are unable to authenticate your payment method. Please choose a different "
        "payment method and try again."
    ),
}


@dataclass(slots=True)
class GatewayCall:
    """One connector operation to run outside any transaction."""

    attempt_id: str
    merchant_id: str
    connector: str
    kind: OperationKind
    request: AuthorizeRequest | CaptureRequest | VoidRequest | RefundRequest | StatusRequest
    connector_account_id: str | None = None

    @property
    def is_lookup(self) -> bool:
        return isinstance(self.request, StatusRequest)


@dataclass(slots=True)
class GatewayOutcome:
    result: OperationResult | None = None
    error: ConnectorError | None = None
    seconds: float = 0.0
    from_lookup: bool = False  # a status lookup's outcome, not the operation's own


@dataclass(slots=True)
class Step:
    """What a service call produced: objects to render, an error, or a gateway call to make."""

    intent: PaymentIntent | None = None
    refund: Refund | None = None
    call: GatewayCall | None = None
    error: StrongboxError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def response(self) -> tuple[int, bytes]:
        """The HTTP status and body this step answers (stored on an idempotency key whose
        request never got its answer)."""
        if self.error is not None:
            return self.error.status, orjson.dumps(self.error.to_dict())
        if self.refund is not None:
            return 200, orjson.dumps(render_refund(None, self.refund))
        assert self.intent is not None
        return 200, orjson.dumps(render_intent(None, self.intent))


@dataclass(frozen=True, slots=True)
class PaymentsConfig:
    default_connector: str = "simulator"
    gateway_retries: int = 2
    retry_initial_seconds: float = 0.05
    retry_max_seconds: float = 1.0


class PaymentsService:
    def __init__(
        self,
        connectors: ConnectorRegistry,
        cards: CardSource,
        config: PaymentsConfig | None = None,
        vault: VaultService | None = None,
        *,
        routing: RoutingService | None = None,
        health: ConnectorHealth | None = None,
    ) -> None:
        self.connectors = connectors
        self.cards = cards
        self.config = config or PaymentsConfig()
        self.vault = vault
        self.routing = routing
        self.health = health

    def _vault(self) -> VaultService:
        if self.vault is None:
            raise RuntimeError("this PaymentsService was built without a vault")
        return self.vault

    # ------------------------------------------------------------------ helpers

    def _event(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        type_: str,
        resource_type: str,
        resource_id: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
    ) -> None:
        raise_event(uow, ctx, type_, resource_type, resource_id, obj, previous=previous)

    def _intent_event(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        type_: str,
        pi: PaymentIntent,
        previous: dict[str, Any] | None = None,
    ) -> None:
        self._event(uow, ctx, type_, "payment_intent", pi.id, render_intent(None, pi), previous)

    @staticmethod
    def _require_transition(pi: PaymentIntent, trigger: Trigger) -> Status:
        """The status ``trigger`` leads to, or Stripe's unexpected-state error."""
        try:
            return next_status(Status(pi.status), trigger)
        except IllegalTransition as exc:
            raise UnexpectedStateError(str(exc), payment_intent=render_intent(None, pi)) from None

    def _set_status(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        pi: PaymentIntent,
        trigger: Trigger,
        cause: str,
        attempt_id: str | None = None,
    ) -> Status:
        current = Status(pi.status)
        new = self._require_transition(pi, trigger)
        if new != current:
            pi.status = new.value
            uow.session.add(
                StatusChange(
                    merchant_id=pi.merchant_id,
                    payment_intent_id=pi.id,
                    from_status=current.value,
                    to_status=new.value,
                    cause=cause,
                    attempt_id=attempt_id,
                    request_id=ctx.request_id,
                    created=uow.clock.now(),
                )
            )
            metrics.PAYMENT_TRANSITIONS.labels(new.value).inc()
        pi.updated = uow.clock.now()
        return new

    def _require_intent(
        self, uow: UnitOfWork, ctx: RequestContext, intent_id: str, *, lock: bool = False
    ) -> PaymentIntent:
        pi = repo.get_intent(uow.session, ctx.merchant_id, intent_id, lock=lock)
        if pi is None:
            raise ResourceMissingError(f"No such payment_intent: '{intent_id}'", param="intent")
        return pi

    def _require_customer(
        self, uow: UnitOfWork, ctx: RequestContext, customer_id: str, param: str = "customer"
    ) -> Customer:
        cust = repo.get_customer(uow.session, ctx.merchant_id, customer_id)
        if cust is None:
            raise ResourceMissingError(f"No such customer: '{customer_id}'", param=param)
        return cust

    # ------------------------------------------------------------------ validation

    @staticmethod
    def validate_create(p: CreatePaymentIntentParams) -> None:
        """Rules that need no database; called before the idempotency key is taken."""
        currency = parse_currency(p.currency)
        validate_amount(p.amount, currency)
        if p.payment_method_types is not None:
            bad = [t for t in p.payment_method_types if t != "card"]
            if bad:
                raise InvalidRequestError(
                    f"The payment method type {bad[0]!r} is invalid. Strongbox supports: card.",
                    param="payment_method_types",
                    code="payment_method_invalid_parameter",
                )
        if p.confirm is False and p.return_url is not None:
            raise InvalidRequestError(
                "return_url can only be passed when confirm=true.", param="return_url"
            )

    @staticmethod
    def validate_update(p: UpdatePaymentIntentParams) -> None:
        if p.currency is not None:
            currency = parse_currency(p.currency)
            if p.amount is not None:
                validate_amount(p.amount, currency)

    # ------------------------------------------------------------------ payment methods

    def resolve_payment_method(
        self, uow: UnitOfWork, ctx: RequestContext, pm_id: str, param: str = "payment_method"
    ) -> PaymentMethod:
        """An existing ``pm_…`` of this merchant, or a new one materialized from a test method."""
        if lookup_test_card(pm_id) is not None:
            return self._test_payment_method(uow, ctx, pm_id)
        pm_row = repo.get_payment_method(uow.session, ctx.merchant_id, pm_id)
        if pm_row is None:
            raise ResourceMissingError(f"No such PaymentMethod: '{pm_id}'", param=param)
        return pm_row

    def _test_payment_method(
        self, uow: UnitOfWork, ctx: RequestContext, name: str
    ) -> PaymentMethod:
        """A new ``pm_…`` for one of Stripe's public test methods (``pm_card_visa``…)."""
        card = lookup_test_card(name)
        if card is None:
            raise ResourceMissingError(f"No such PaymentMethod: '{name}'", param="payment_method")
        pm = PaymentMethod(
            id=new_id("payment_method"),
            merchant_id=ctx.merchant_id,
            customer_id=None,
            type="card",
            card_brand=card.brand,
            card_last4=card.last4,
            card_exp_month=12,
            card_exp_year=uow.clock.now().year + 3,
            card_funding=card.funding,
            card_country=card.country,
            fingerprint=card.fingerprint,
            card_source=f"test:{name}",
            billing_details={},
            metadata_={},
            created=uow.clock.now(),
        )
        uow.session.add(pm)
        return pm

    @staticmethod
    def _require_card_params(p: CreatePaymentMethodParams) -> None:
        if p.type is None:
            raise ParameterMissingError("Missing required param: type.", param="type")
        if p.card is None:
            raise ParameterMissingError("Missing required param: card.", param="card")

    def create_card_payment_method(
        self, uow: UnitOfWork, ctx: RequestContext, p: CreatePaymentMethodParams
    ) -> PaymentMethod:
        """Validate a card, store it in the vault and return a new ``pm_…`` (no CVC kept
        beyond the first authorization or its TTL). ``card[token]`` with one of Stripe's test
        tokens makes a test payment method, as Stripe does in test mode."""
        vault = self._vault()
        self._require_card_params(p)
        card = p.card
        assert card is not None
        if card.token is not None:
            if requested_token(p) is not None:
                raise InvalidRequestError(
                    "This card[token] belongs to a connector account's gateway.",
                    param="card[token]",
                )
            pm = self._test_payment_method(uow, ctx, card.token)
            pm.metadata_ = _merge_metadata({}, p.metadata)
            uow.flush()
            return pm
        for name in ("number", "exp_month", "exp_year"):
            if getattr(card, name) is None:
                raise ParameterMissingError(
                    f"Missing required param: card[{name}].", param=f"card[{name}]"
                )
        assert card.number is not None
        assert card.exp_month is not None
        assert card.exp_year is not None
        valid = validate_card(
            Secret(card.number),
            card.exp_month,
            card.exp_year,
            Secret(card.cvc) if card.cvc else None,
            uow.clock.now(),
        )
        pm_id = new_id("payment_method")
        token = vault.tokenize(uow, ctx.merchant_id, pm_id, valid.pan, valid.cvc)
        pm = PaymentMethod(
            id=pm_id,
            merchant_id=ctx.merchant_id,
            customer_id=None,
            type="card",
            card_brand=valid.brand.brand,
            card_last4=valid.last4,
            card_exp_month=valid.exp_month,
            card_exp_year=valid.exp_year,
            card_funding=valid.funding,
            card_country=valid.country,
            fingerprint=vault.fingerprint(uow.session, ctx.merchant_id, valid.pan),
            card_cvc_check="unchecked" if valid.cvc is not None else None,
            card_source=f"{VAULT_PREFIX}{token}",
            billing_details={},
            metadata_=_merge_metadata({}, p.metadata),
            created=uow.clock.now(),
        )
        uow.session.add(pm)
        uow.flush()
        self._event(
            uow,
            ctx,
            "strongbox.vault.tokenized",
            "payment_method",
            pm.id,
            {
                "object": "payment_method",
                "id": pm.id,
                "token": token,
                "brand": pm.card_brand,
                "last4": pm.card_last4,
                "cvc": valid.cvc is not None,
            },
        )
        return pm

    # ---- payment methods held by a gateway (Stripe pm_/tok_, Braintree nonces)

    def gateway_token_target(
        self, uow: UnitOfWork, ctx: RequestContext, token: str, account_id: str
    ) -> TokenTarget:
        """The connector account that made ``token``, with its credentials for one read."""
        if self.routing is None:
            raise InvalidRequestError(
                "Gateway tokens need connector accounts, and this server has none.",
                param="connector_account",
            )
        account = self.routing.token_account(
            uow.session, ctx.merchant_id, account_id, param="connector_account"
        )
        return TokenTarget(
            token=token,
            account_id=account.id,
            connector=account.connector,
            merchant_id=ctx.merchant_id,
            credentials=self.routing.account_credentials(account),
        )

    def describe_gateway_token(self, target: TokenTarget) -> TokenDetails:
        """Ask the gateway for the token's card. A network call: never in a transaction."""
        connector = self.connectors.get(target.connector)
        if not connector.supports(Capability.GATEWAY_TOKEN):
            raise InvalidRequestError(
                f"The {target.connector} connector does not accept gateway tokens.",
                param="connector_account",
                code="parameter_invalid",
            )
        request = TokenRequest(
            token=target.token, merchant_id=target.merchant_id, credentials=target.credentials
        )
        details, error, _ = self._guarded(
            target.connector,
            "describe_token",
            target.merchant_id,
            target.account_id,
            lambda: connector.describe_token(request),
            lambda _: "ok",
        )
        if error is not None:
            raise token_error(target, error)
        assert details is not None
        return details

    def create_gateway_payment_method(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        p: CreatePaymentMethodParams,
        target: TokenTarget,
        details: TokenDetails,
    ) -> PaymentMethod:
        """A ``pm_…`` standing for ``target``'s token, bound to its connector account."""
        self._require_card_params(p)
        if self.routing is not None:  # still there and enabled, in this transaction
            self.routing.token_account(
                uow.session, ctx.merchant_id, target.account_id, param="connector_account"
            )
        pm = PaymentMethod(
            id=new_id("payment_method"),
            merchant_id=ctx.merchant_id,
            customer_id=None,
            type="card",
            **card_fields(details),
            card_cvc_check=None,
            card_source=f"{GATEWAY_PREFIX}{target.connector}",
            connector_account_id=target.account_id,
            gateway_token=details.token or target.token,
            billing_details={},
            metadata_=_merge_metadata({}, p.metadata),
            created=uow.clock.now(),
        )
        uow.session.add(pm)
        uow.flush()
        self._event(
            uow,
            ctx,
            "strongbox.payment_method.gateway_token",
            "payment_method",
            pm.id,
            {
                "object": "payment_method",
                "id": pm.id,
                "connector": target.connector,
                "connector_account": target.account_id,
                "brand": pm.card_brand,
                "last4": pm.card_last4,
                "reusable": details.reusable,
            },
        )
        return pm

    def retrieve_payment_method(
        self, uow: UnitOfWork, ctx: RequestContext, pm_id: str
    ) -> PaymentMethod:
        pm = repo.get_payment_method(uow.session, ctx.merchant_id, pm_id)
        if pm is None:
            raise ResourceMissingError(f"No such PaymentMethod: '{pm_id}'", param="payment_method")
        return pm

    def attach_payment_method(
        self, uow: UnitOfWork, ctx: RequestContext, pm_id: str, customer_id: str
    ) -> PaymentMethod:
        cust = self._require_customer(uow, ctx, customer_id)
        pm = self.resolve_payment_method(uow, ctx, pm_id)
        if pm.customer_id is not None and pm.customer_id != cust.id:
            raise InvalidRequestError(
                "This PaymentMethod is already attached to another customer.",
                param="payment_method",
                code="payment_method_unexpected_state",
            )
        if pm.customer_id != cust.id:
            pm.customer_id = cust.id
            uow.flush()
            self._event(
                uow,
                ctx,
                "payment_method.attached",
                "payment_method",
                pm.id,
                render_payment_method(uow.session, pm, livemode=ctx.livemode),
            )
        return pm

    def detach_payment_method(
        self, uow: UnitOfWork, ctx: RequestContext, pm_id: str
    ) -> PaymentMethod:
        pm = self.retrieve_payment_method(uow, ctx, pm_id)
        if pm.customer_id is None:
            raise InvalidRequestError(
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
                param="payment_method",
                code="payment_method_unexpected_state",
            )
        cust = repo.get_customer(uow.session, ctx.merchant_id, pm.customer_id)
        if cust is not None and cust.default_payment_method == pm.id:
            cust.default_payment_method = None
        previous = {"customer": pm.customer_id}
        pm.customer_id = None
        uow.flush()
        self._event(
            uow,
            ctx,
            "payment_method.detached",
            "payment_method",
            pm.id,
            render_payment_method(uow.session, pm, livemode=ctx.livemode),
            previous,
        )
        return pm

    def list_payment_methods(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        page: PageRequest,
        customer: str | None,
        type_: str | None,
    ) -> Page[PaymentMethod]:
        if customer is not None:
            self._require_customer(uow, ctx, customer)
        return repo.list_payment_methods(
            uow.session, ctx.merchant_id, page, customer=customer, type_=type_
        )

    # ------------------------------------------------------------------ customers

    def create_customer(self, uow: UnitOfWork, ctx: RequestContext, p: CustomerParams) -> Customer:
        now = uow.clock.now()
        cust = Customer(
            id=new_id("customer"),
            merchant_id=ctx.merchant_id,
            description=p.description or None,
            metadata_=_merge_metadata({}, p.metadata),
            default_payment_method=None,
            created=now,
            deleted_at=None,
        )
        uow.session.add(cust)
        self._write_pii(
            uow,
            cust,
            {
                "name": p.name or None,
                "email": p.email or None,
                "phone": p.phone or None,
                "address": _address(p.address),
            },
        )
        uow.flush()
        if p.payment_method:
            pm = self.attach_payment_method(uow, ctx, p.payment_method, cust.id)
            cust.default_payment_method = pm.id
        if p.invoice_settings and p.invoice_settings.default_payment_method:
            cust.default_payment_method = self._customer_pm(uow, ctx, cust, p).id
        self._event(
            uow, ctx, "customer.created", "customer", cust.id, render_customer(cust, ctx.livemode)
        )
        return cust

    def _customer_pm(
        self, uow: UnitOfWork, ctx: RequestContext, cust: Customer, p: CustomerParams
    ) -> PaymentMethod:
        assert p.invoice_settings is not None
        assert p.invoice_settings.default_payment_method
        pm_id = p.invoice_settings.default_payment_method
        pm = repo.get_payment_method(uow.session, ctx.merchant_id, pm_id)
        if pm is None or pm.customer_id != cust.id:
            raise InvalidRequestError(
                f"No such PaymentMethod: '{pm_id}'; it must be attached to this customer.",
                param="invoice_settings[default_payment_method]",
                code="resource_missing",
            )
        return pm

    def retrieve_customer(self, uow: UnitOfWork, ctx: RequestContext, customer_id: str) -> Customer:
        cust = repo.get_customer(uow.session, ctx.merchant_id, customer_id, include_deleted=True)
        if cust is None:
            raise ResourceMissingError(f"No such customer: '{customer_id}'", param="id")
        return cust

    def update_customer(
        self, uow: UnitOfWork, ctx: RequestContext, customer_id: str, p: CustomerParams
    ) -> Customer:
        cust = self._require_customer(uow, ctx, customer_id, param="id")
        before = render_customer(cust, ctx.livemode)
        fields = p.model_fields_set
        if "description" in fields:
            cust.description = p.description or None
        pii = {k: cust.pii_data().get(k) for k in PII_FIELDS}
        for name in ("name", "email", "phone"):
            if name in fields:
                pii[name] = getattr(p, name) or None
        if "address" in fields:
            pii["address"] = _address(p.address)
        if pii != {k: cust.pii_data().get(k) for k in PII_FIELDS}:
            self._write_pii(uow, cust, pii)
        if p.metadata is not None:
            cust.metadata_ = _merge_metadata(dict(cust.metadata_ or {}), p.metadata)
        if p.invoice_settings is not None and "default_payment_method" in (
            p.invoice_settings.model_fields_set
        ):
            cust.default_payment_method = (
                self._customer_pm(uow, ctx, cust, p).id
                if p.invoice_settings.default_payment_method
                else None
            )
        if p.payment_method:
            raise InvalidRequestError(
                "Received unknown parameter: payment_method",
                param="payment_method",
                code="parameter_unknown",
            )
        uow.flush()
        after = render_customer(cust, ctx.livemode)
        self._event(uow, ctx, "customer.updated", "customer", cust.id, after, _diff(before, after))
        return cust

    def delete_customer(self, uow: UnitOfWork, ctx: RequestContext, customer_id: str) -> Customer:
        cust = self._require_customer(uow, ctx, customer_id, param="id")
        before = render_customer(cust, ctx.livemode)
        cust.deleted_at = uow.clock.now()
        # Crypto-shredding: the customer's PII key is destroyed; ledger and audit keep ids.
        self._vault().shred_subject(uow, ctx, ctx.merchant_id, cust.id)
        cust.email_index = None
        uow.flush()
        self._event(uow, ctx, "customer.deleted", "customer", cust.id, before)
        return cust

    def list_customers(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        page: PageRequest,
        email: str | None,
        created: dict[str, int] | None,
    ) -> Page[Customer]:
        index = (
            self._vault().blind_index(uow.session, ctx.merchant_id, "email", normalize_email(email))
            if email is not None
            else None
        )
        return repo.list_customers(
            uow.session, ctx.merchant_id, page, email=email, email_index=index, created=created
        )

    def _write_pii(self, uow: UnitOfWork, cust: Customer, data: dict[str, Any]) -> None:
        vault = self._vault()
        cust.pii = vault.seal_pii(uow, cust.merchant_id, cust.id, data)
        email = data.get("email")
        cust.email_index = (
            vault.blind_index(uow.session, cust.merchant_id, "email", normalize_email(email))
            if email
            else None
        )
        cust.legacy_name = cust.legacy_email = cust.legacy_phone = None
        cust.legacy_address = None
        cust.set_pii_cache(data)

    # ------------------------------------------------------------------ intents

    def create_intent(
        self, uow: UnitOfWork, ctx: RequestContext, p: CreatePaymentIntentParams
    ) -> Step:
        self.validate_create(p)
        currency = parse_currency(p.currency)
        if p.customer:
            self._require_customer(uow, ctx, p.customer)
        now = uow.clock.now()
        pi_id = new_id("payment_intent")
        pi = PaymentIntent(
            id=pi_id,
            merchant_id=ctx.merchant_id,
            livemode=ctx.livemode,
            amount=p.amount,
            currency=currency.code.lower(),
            status=S.REQUIRES_PAYMENT_METHOD.value,
            capture_method=p.capture_method,
            confirmation_method=p.confirmation_method,
            customer_id=p.customer or None,
            payment_method_id=None,
            payment_method_types=list(p.payment_method_types or ["card"]),
            description=p.description or None,
            receipt_email=p.receipt_email or None,
            statement_descriptor=p.statement_descriptor or None,
            return_url=p.return_url,
            setup_future_usage=p.setup_future_usage or None,
            metadata_=_merge_metadata({}, p.metadata),
            amount_capturable=0,
            amount_received=0,
            amount_refunded=0,
            amount_refund_pending=0,
            cancellation_reason=None,
            canceled_at=None,
            client_secret=f"{pi_id}_secret_{random_token(25)}",
            last_payment_error=None,
            next_action=None,
            latest_charge=None,
            connector=None,
            gateway_reference=None,
            pending_operation=None,
            created=now,
            updated=now,
        )
        uow.session.add(pi)
        uow.session.add(
            StatusChange(
                merchant_id=pi.merchant_id,
                payment_intent_id=pi.id,
                from_status=None,
                to_status=pi.status,
                cause="api.create",
                attempt_id=None,
                request_id=ctx.request_id,
                created=now,
            )
        )
        pm: PaymentMethod | None = None
        if p.payment_method:
            pm = self.resolve_payment_method(uow, ctx, p.payment_method)
            self._check_pm_customer(pm, pi)
            pi.payment_method_id = pm.id
            self._set_status(uow, ctx, pi, Trigger.ATTACH_PAYMENT_METHOD, "api.create")
        self._intent_event(uow, ctx, "payment_intent.created", pi)
        if p.confirm:
            return self._begin_confirm(uow, ctx, pi, cause="api.create_confirm", pm=pm)
        return Step(intent=pi)

    def _check_pm_customer(self, pm: PaymentMethod, pi: PaymentIntent) -> None:
        if pm.customer_id is not None and pm.customer_id != pi.customer_id:
            raise InvalidRequestError(
                f"The provided PaymentMethod ({pm.id}) is attached to another customer.",
                param="payment_method",
                code="payment_method_unexpected_state",
            )

    def retrieve_intent(
        self, uow: UnitOfWork, ctx: RequestContext, intent_id: str
    ) -> PaymentIntent:
        return self._require_intent(uow, ctx, intent_id)

    def list_intents(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        page: PageRequest,
        customer: str | None,
        created: dict[str, int] | None,
    ) -> Page[PaymentIntent]:
        return repo.list_intents(
            uow.session, ctx.merchant_id, page, customer=customer, created=created
        )

    def update_intent(
        self, uow: UnitOfWork, ctx: RequestContext, intent_id: str, p: UpdatePaymentIntentParams
    ) -> PaymentIntent:
        self.validate_update(p)
        pi = self._require_intent(uow, ctx, intent_id, lock=True)
        before = render_intent(None, pi)
        fields = p.model_fields_set - {"expand"}
        status = Status(pi.status)
        money_fields = {
            "amount",
            "currency",
            "payment_method",
            "capture_method",
            "customer",
            "payment_method_types",
            "setup_future_usage",
        }
        updatable = {S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION}
        if fields & money_fields and status == S.REQUIRES_ACTION and self._open_challenge(uow, pi):
            # The customer could still complete the challenge at the gateway and be charged
            # for the old terms: only cancel (which voids it there) may end it from here.
            raise UnexpectedStateError(
                f"You cannot update this PaymentIntent's {sorted(fields & money_fields)[0]} "
                "while a 3D Secure authentication is in progress. Wait for the customer to "
                "complete or fail it, or cancel the PaymentIntent.",
                param=sorted(fields & money_fields)[0],
                payment_intent=before,
            )
        if fields & money_fields and (status not in updatable or pi.pending_operation):
            raise UnexpectedStateError(
                f"You cannot update this PaymentIntent's {sorted(fields & money_fields)[0]} "
                f"because it has a status of {status.value}.",
                param=sorted(fields & money_fields)[0],
                payment_intent=before,
            )
        currency = (
            parse_currency(p.currency) if p.currency is not None else parse_currency(pi.currency)
        )
        if p.amount is not None or p.currency is not None:
            amount = p.amount if p.amount is not None else pi.amount
            validate_amount(amount, currency)
            pi.amount = amount
            pi.currency = currency.code.lower()
        if p.capture_method is not None:
            pi.capture_method = p.capture_method
        if "customer" in fields:
            if p.customer:
                self._require_customer(uow, ctx, p.customer)
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
            pi.metadata_ = _merge_metadata(dict(pi.metadata_ or {}), p.metadata)
        if "payment_method" in fields:
            if p.payment_method:
                pm = self.resolve_payment_method(uow, ctx, p.payment_method)
                self._check_pm_customer(pm, pi)
                pi.payment_method_id = pm.id
                self._set_status(uow, ctx, pi, Trigger.ATTACH_PAYMENT_METHOD, "api.update")
            else:
                pi.payment_method_id = None
                self._set_status(uow, ctx, pi, Trigger.DETACH_PAYMENT_METHOD, "api.update")
            if status == S.REQUIRES_ACTION:
                self._abandon_action(uow, pi)
        pi.updated = uow.clock.now()
        uow.flush()
        after = render_intent(None, pi)
        changed = _diff(before, after)
        if changed:
            self._intent_event(uow, ctx, "payment_intent.updated", pi, changed)
        return pi

    def _open_challenge(self, uow: UnitOfWork, pi: PaymentIntent) -> bool:
        return (
            repo.open_attempt_for(
                uow.session, pi.merchant_id, pi.id, OperationKind.AUTHORIZE.value, "requires_action"
            )
            is not None
        )

    def _abandon_action(self, uow: UnitOfWork, pi: PaymentIntent) -> None:
        attempt = repo.open_attempt_for(
            uow.session, pi.merchant_id, pi.id, OperationKind.AUTHORIZE.value, "requires_action"
        )
        if attempt is not None:
            attempt.status = "failed"
            attempt.error_code = "abandoned"
            attempt.finished_at = attempt.updated = uow.clock.now()
        pi.next_action = None

    # ---- confirm

    def begin_confirm(
        self, uow: UnitOfWork, ctx: RequestContext, intent_id: str, p: ConfirmPaymentIntentParams
    ) -> Step:
        pi = self._require_intent(uow, ctx, intent_id, lock=True)
        if pi.pending_operation:
            raise UnexpectedStateError(
                f"This PaymentIntent has a {pi.pending_operation} in progress; try again shortly.",
                payment_intent=render_intent(None, pi),
            )
        self._require_transition(pi, Trigger.CONFIRM)
        pm: PaymentMethod | None = None
        if p.payment_method:
            pm = self.resolve_payment_method(uow, ctx, p.payment_method)
            self._check_pm_customer(pm, pi)
            pi.payment_method_id = pm.id
            self._set_status(uow, ctx, pi, Trigger.ATTACH_PAYMENT_METHOD, "api.confirm")
        if p.return_url is not None:
            pi.return_url = p.return_url
        if "receipt_email" in p.model_fields_set:
            pi.receipt_email = p.receipt_email or None
        if p.capture_method is not None:
            pi.capture_method = p.capture_method
        if "setup_future_usage" in p.model_fields_set:
            pi.setup_future_usage = p.setup_future_usage or None
        return self._begin_confirm(uow, ctx, pi, cause="api.confirm", pm=pm)

    def _begin_confirm(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        pi: PaymentIntent,
        *,
        cause: str,
        pm: PaymentMethod | None = None,
    ) -> Step:
        if not pi.payment_method_id:
            raise UnexpectedStateError(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm the PaymentIntent, pass a payment_method.",
                param="payment_method",
                payment_intent=render_intent(None, pi),
            )
        if pm is None or pm.id != pi.payment_method_id:
            pm = repo.get_payment_method(uow.session, ctx.merchant_id, pi.payment_method_id)
        if pm is None:
            raise ResourceMissingError(
                f"No such PaymentMethod: '{pi.payment_method_id}'", param="payment_method"
            )
        card: CardData | None = None
        if pm.gateway_token is not None:
            route = self._pinned_route(uow, pi, pm)
        else:
            card = self.cards.card_data(uow, ctx, pm)
            route = self._route_payment(uow, pi, pm)
        connector, reason = route.connector, route.reason
        attempt = self._new_attempt(
            uow,
            ctx,
            pi,
            OperationKind.AUTHORIZE,
            connector,
            pi.amount,
            capture=pi.capture_method != "manual",
            reason=reason,
        )
        attempt.charge_id = new_id("charge")
        self._record_route(attempt, pi, route)
        pi.last_payment_error = None
        pi.next_action = None
        pi.pending_operation = OperationKind.AUTHORIZE.value
        self._set_status(uow, ctx, pi, Trigger.CONFIRM, cause, attempt.id)
        uow.flush()
        request = AuthorizeRequest(
            idempotency_key=attempt.gateway_idempotency_key,
            amount=pi.amount,
            currency=pi.currency,
            capture=attempt.capture,
            card=card,
            token=pm.gateway_token,
            merchant_id=pi.merchant_id,
            payment_id=pi.id,
            return_url=pi.return_url,
            description=pi.description,
            metadata=dict(pi.metadata_ or {}),
        )
        return Step(intent=pi, call=self._call(attempt, request))

    def _new_attempt(
        self,
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
        now = uow.clock.now()
        attempt_id = new_id("attempt")
        attempt = PaymentAttempt(
            id=attempt_id,
            merchant_id=pi.merchant_id,
            payment_intent_id=pi.id,
            kind=kind.value,
            status="started",
            connector=connector,
            gateway_idempotency_key=f"strongbox-{attempt_id}",
            gateway_reference=pi.gateway_reference if kind != OperationKind.AUTHORIZE else None,
            gateway_status=None,
            amount=amount,
            currency=pi.currency,
            capture=capture,
            refund_id=refund_id,
            charge_id=pi.latest_charge,
            request_idempotency_key_id=ctx.idempotency_record_id,
            decline_code=None,
            error_code=None,
            error_message=None,
            routing_reason=reason,
            connector_account_id=(
                pi.connector_account_id if kind != OperationKind.AUTHORIZE else None
            ),
            action_reference=None,
            lookups=0,
            created=now,
            updated=now,
            finished_at=None,
        )
        uow.session.add(attempt)
        return attempt

    def _call(
        self,
        attempt: PaymentAttempt,
        request: AuthorizeRequest | CaptureRequest | VoidRequest | RefundRequest | StatusRequest,
    ) -> GatewayCall:
        if attempt.connector_account_id and self.routing is not None:
            session = object_session(attempt)
            assert session is not None
            creds = self.routing.credentials(
                session, attempt.merchant_id, attempt.connector_account_id
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

    # ---- routing and failover (issue 6)

    def _route_payment(self, uow: UnitOfWork, pi: PaymentIntent, pm: PaymentMethod) -> Route:
        """The first connector for this payment, with the whole ranked decision."""
        if self.routing is None:
            decision = RoutingDecision(ranked=(), rule="none", reason="default connector")
            return Route(self.config.default_connector, None, decision, 0, ())
        facts = PaymentFacts(
            payment_id=pi.id,
            amount=pi.amount,
            currency=pi.currency,
            brand=pm.card_brand,
            card_country=pm.card_country,
            metadata={str(k): str(v) for k, v in (pi.metadata_ or {}).items()},
            manual_capture=pi.capture_method == "manual",
        )
        return self.routing.route(uow.session, pi.merchant_id, facts)[0]

    def _pinned_route(self, uow: UnitOfWork, pi: PaymentIntent, pm: PaymentMethod) -> Route:
        """A gateway token's payment goes to the account that made it, and nowhere else."""
        if self.routing is None or pm.connector_account_id is None:
            raise InvalidRequestError(
                "This PaymentMethod's gateway token has no connector account to use it.",
                param="payment_method",
                code="payment_method_unavailable",
            )
        try:
            return self.routing.pinned(
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

    def _record_route(self, attempt: PaymentAttempt, pi: PaymentIntent, route: Route) -> None:
        attempt.connector_account_id = route.account_id
        attempt.routing = {
            **route.decision.as_record(route.position),
            "connectors": list(route.connectors),
        }
        pi.connector = route.connector
        pi.connector_account_id = route.account_id

    def _failover(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        attempt: PaymentAttempt,
        pi: PaymentIntent,
        error: RetryableError,
    ) -> Step | None:
        """After a retryable error (nothing was charged) or an open circuit: a NEW attempt on
        the next connector of the ranking, with its own idempotency key. Never called for a
        decline or an unknown outcome, so a payment is charged at most once."""
        record = attempt.routing or {}
        ranked = [str(a) for a in record.get("ranked") or []]
        connectors = [str(c) for c in record.get("connectors") or []]
        position = int(record.get("position") or 0) + 1
        if position >= len(ranked) or len(connectors) != len(ranked) or not pi.payment_method_id:
            return None
        pm = repo.get_payment_method(uow.session, pi.merchant_id, pi.payment_method_id)
        if pm is None or pm.gateway_token is not None:
            return None  # a gateway token is pinned to its account: nothing to fail over to
        self._technical_error(attempt, error, pi)  # records the error on the old attempt
        self._close(uow, attempt, "failed")
        account, connector = ranked[position], connectors[position]
        why = "circuit open" if isinstance(error, CircuitOpenError) else "retryable error"
        previous = attempt.connector_account_id or attempt.connector
        reason = f"failover #{position + 1} to {account} after {why} on {previous}"
        new = self._new_attempt(
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
        new.routing = {
            **record,
            "position": position,
            "failover_from": attempt.id,
            "reason": reason,
        }
        pi.connector = connector
        pi.connector_account_id = account
        pi.updated = uow.clock.now()
        uow.flush()
        FAILOVERS.labels(attempt.connector, connector, why).inc()
        request = AuthorizeRequest(
            idempotency_key=new.gateway_idempotency_key,
            amount=pi.amount,
            currency=pi.currency,
            capture=new.capture,
            card=self.cards.card_data(uow, ctx, pm),
            merchant_id=pi.merchant_id,
            payment_id=pi.id,
            return_url=pi.return_url,
            description=pi.description,
            metadata=dict(pi.metadata_ or {}),
        )
        return Step(intent=pi, call=self._call(new, request))

    # ---- capture

    def begin_capture(
        self, uow: UnitOfWork, ctx: RequestContext, intent_id: str, p: CapturePaymentIntentParams
    ) -> Step:
        pi = self._require_intent(uow, ctx, intent_id, lock=True)
        self._check_no_operation(pi, Trigger.CAPTURE)
        self._require_transition(pi, Trigger.CAPTURE)
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
            pi.metadata_ = _merge_metadata(dict(pi.metadata_ or {}), p.metadata)
        attempt = self._new_attempt(uow, ctx, pi, OperationKind.CAPTURE, pi.connector or "", amount)
        pi.pending_operation = OperationKind.CAPTURE.value
        pi.updated = uow.clock.now()
        uow.flush()
        request = CaptureRequest(
            idempotency_key=attempt.gateway_idempotency_key,
            gateway_reference=pi.gateway_reference or "",
            amount=amount,
            currency=pi.currency,
            merchant_id=pi.merchant_id,
        )
        return Step(intent=pi, call=self._call(attempt, request))

    def _check_no_operation(self, pi: PaymentIntent, trigger: Trigger) -> None:
        if pi.pending_operation:
            raise UnexpectedStateError(
                f"You cannot {trigger.value} this PaymentIntent because a "
                f"{pi.pending_operation} is in progress.",
                payment_intent=render_intent(None, pi),
            )

    # ---- cancel

    def begin_cancel(
        self, uow: UnitOfWork, ctx: RequestContext, intent_id: str, p: CancelPaymentIntentParams
    ) -> Step:
        pi = self._require_intent(uow, ctx, intent_id, lock=True)
        self._check_no_operation(pi, Trigger.CANCEL)
        status = Status(pi.status)
        # An authorization, or a 3DS challenge still open at the gateway, must be voided there
        # first: otherwise the customer could still complete the challenge and be charged.
        if status == S.REQUIRES_CAPTURE or (status == S.REQUIRES_ACTION and pi.gateway_reference):
            attempt = self._new_attempt(uow, ctx, pi, OperationKind.VOID, pi.connector or "", 0)
            pi.pending_operation = OperationKind.VOID.value
            pi.cancellation_reason = p.cancellation_reason
            pi.updated = uow.clock.now()
            uow.flush()
            request = VoidRequest(
                idempotency_key=attempt.gateway_idempotency_key,
                gateway_reference=pi.gateway_reference or "",
                merchant_id=pi.merchant_id,
            )
            return Step(intent=pi, call=self._call(attempt, request))
        self._set_status(uow, ctx, pi, Trigger.CANCEL, "api.cancel")
        if status == S.REQUIRES_ACTION:
            self._abandon_action(uow, pi)
        self._mark_canceled(uow, ctx, pi, p.cancellation_reason)
        return Step(intent=pi)

    def _mark_canceled(
        self, uow: UnitOfWork, ctx: RequestContext, pi: PaymentIntent, reason: str | None
    ) -> None:
        pi.cancellation_reason = reason
        pi.canceled_at = uow.clock.now()
        pi.amount_capturable = 0
        pi.next_action = None
        pi.pending_operation = None
        self._intent_event(uow, ctx, "payment_intent.canceled", pi)

    # ---- refunds

    @staticmethod
    def validate_refund(p: CreateRefundParams) -> None:
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

    def begin_refund(self, uow: UnitOfWork, ctx: RequestContext, p: CreateRefundParams) -> Step:
        self.validate_refund(p)
        if p.charge:
            attempt = repo.find_attempt_by_charge(uow.session, ctx.merchant_id, p.charge)
            if attempt is None:
                raise ResourceMissingError(f"No such charge: '{p.charge}'", param="charge")
            intent_id = attempt.payment_intent_id
        else:
            intent_id = p.payment_intent or ""
        pi = repo.get_intent(uow.session, ctx.merchant_id, intent_id, lock=True)
        if pi is None:
            raise ResourceMissingError(
                f"No such payment_intent: '{intent_id}'", param="payment_intent"
            )
        if pi.amount_received <= 0 or Status(pi.status) != S.SUCCEEDED:
            hint = (
                " It is authorized but not captured: cancel it to release the funds."
                if pi.status == S.REQUIRES_CAPTURE
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
        refund = Refund(
            id=new_id("refund"),
            merchant_id=ctx.merchant_id,
            payment_intent_id=pi.id,
            charge_id=pi.latest_charge,
            amount=amount,
            currency=pi.currency,
            status="pending",
            reason=p.reason,
            failure_reason=None,
            metadata_=_merge_metadata({}, p.metadata),
            created=now,
            updated=now,
        )
        uow.session.add(refund)
        # Reserve the amount under the intent's row lock: parallel refunds cannot exceed it.
        pi.amount_refund_pending += amount
        pi.updated = now
        attempt = self._new_attempt(
            uow, ctx, pi, OperationKind.REFUND, pi.connector or "", amount, refund_id=refund.id
        )
        uow.flush()
        self._event(
            uow,
            ctx,
            "refund.created",
            "refund",
            refund.id,
            render_refund(None, refund, livemode=ctx.livemode),
        )
        request = RefundRequest(
            idempotency_key=attempt.gateway_idempotency_key,
            gateway_reference=pi.gateway_reference or "",
            amount=amount,
            currency=pi.currency,
            merchant_id=pi.merchant_id,
            reason=p.reason,
        )
        return Step(intent=pi, refund=refund, call=self._call(attempt, request))

    def retrieve_refund(self, uow: UnitOfWork, ctx: RequestContext, refund_id: str) -> Refund:
        r = repo.get_refund(uow.session, ctx.merchant_id, refund_id)
        if r is None:
            raise ResourceMissingError(f"No such refund: '{refund_id}'", param="id")
        return r

    def update_refund(
        self, uow: UnitOfWork, ctx: RequestContext, refund_id: str, p: UpdateRefundParams
    ) -> Refund:
        r = self.retrieve_refund(uow, ctx, refund_id)
        if p.metadata is not None:
            before = render_refund(None, r, livemode=ctx.livemode)
            r.metadata_ = _merge_metadata(dict(r.metadata_ or {}), p.metadata)
            r.updated = uow.clock.now()
            uow.flush()
            after = render_refund(None, r, livemode=ctx.livemode)
            self._event(uow, ctx, "refund.updated", "refund", r.id, after, _diff(before, after))
        return r

    def list_refunds(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        page: PageRequest,
        payment_intent: str | None,
        charge: str | None,
        created: dict[str, int] | None,
    ) -> Page[Refund]:
        if charge:
            attempt = repo.find_attempt_by_charge(uow.session, ctx.merchant_id, charge)
            if attempt is None:
                return Page(data=[], has_more=False)
            if payment_intent and payment_intent != attempt.payment_intent_id:
                return Page(data=[], has_more=False)
            payment_intent = attempt.payment_intent_id
        return repo.list_refunds(
            uow.session, ctx.merchant_id, page, payment_intent=payment_intent, created=created
        )

    # ------------------------------------------------------------------ gateway call

    def _retrying(self) -> Retrying:
        """Retries for errors known to be safe (the gateway did not process the request),
        with exponential backoff and jitter; never through an open circuit."""
        return Retrying(
            retry=retry_if_exception_type(RetryableError)
            & retry_if_not_exception_type(CircuitOpenError),
            stop=stop_after_attempt(self.config.gateway_retries + 1),
            wait=wait_exponential_jitter(
                multiplier=self.config.retry_initial_seconds,
                max=self.config.retry_max_seconds,
                jitter=self.config.retry_initial_seconds,  # tenacity's default is 1 s
            ),
            reraise=True,
        )

    def execute(self, call: GatewayCall) -> GatewayOutcome:
        """Run one connector call. No database access here, ever."""
        connector = self.connectors.get(call.connector)
        op = call.kind.value if not call.is_lookup else "status"

        def once() -> OperationResult:
            req = call.request
            if isinstance(req, StatusRequest):
                return connector.get_status(req)
            if isinstance(req, AuthorizeRequest):
                return connector.authorize(req)
            if isinstance(req, CaptureRequest):
                return connector.capture(req)
            if isinstance(req, VoidRequest):
                return connector.void(req)
            return connector.refund(req)

        # Lookups bypass the breaker: recovery must be able to ask at any time.
        result, error, seconds = self._guarded(
            call.connector,
            op,
            call.merchant_id,
            None if call.is_lookup else (call.connector_account_id or call.connector),
            once,
            _status_label,
        )
        return GatewayOutcome(
            result=result, error=error, seconds=seconds, from_lookup=call.is_lookup
        )

    def _guarded(
        self,
        connector: str,
        op: str,
        merchant_id: str,
        target: str | None,
        fn: Callable[[], T],
        label: Callable[[Any], str],  # the metrics label of a result
    ) -> tuple[T | None, ConnectorError | None, float]:
        """One connector call (no database access here, ever): under the circuit breaker of
        ``(merchant_id, target)`` unless ``target`` is None, retried only on errors known to
        be safe, a connector bug taken as an unknown outcome (never "not charged"), counted in
        the gateway metrics. Returns the result or the error, and the seconds it took."""
        health = self.health
        once = fn
        if health is not None and target is not None:
            guarded_target = target

            def once() -> T:
                return health.call(merchant_id, guarded_target, fn)

        start = time.perf_counter()
        result: T | None = None
        error: ConnectorError | None = None
        try:
            for attempt in self._retrying():
                with attempt:
                    result = once()
        except ConnectorError as exc:
            error = exc
        except RetryError as exc:  # pragma: no cover - reraise=True makes this unreachable
            error = RetryableError(str(exc))
        except Exception as exc:
            log.exception("connector %s raised unexpectedly in %s", connector, op)
            error = UnknownOutcomeError(f"connector failure: {type(exc).__name__}")
        seconds = time.perf_counter() - start
        outcome = label(result) if result is not None else type(error).__name__
        metrics.GATEWAY_CALLS.labels(connector, op, outcome).inc()
        metrics.GATEWAY_LATENCY.labels(connector, op).observe(seconds)
        return result, error, seconds

    # ------------------------------------------------------------------ finish

    def finish(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        call: GatewayCall,
        outcome: GatewayOutcome,
        *,
        cause: str = "gateway",
    ) -> Step:
        """Record a gateway outcome (phase 3). Idempotent: a finished attempt is left alone."""
        attempt = repo.get_attempt(uow.session, call.merchant_id, call.attempt_id, lock=True)
        if attempt is None:  # pragma: no cover - attempts are never deleted
            raise ResourceMissingError(f"No such attempt: '{call.attempt_id}'")
        pi = self._require_intent(uow, ctx, attempt.payment_intent_id, lock=True)
        refund = (
            repo.get_refund(uow.session, attempt.merchant_id, attempt.refund_id)
            if attempt.refund_id
            else None
        )
        if attempt.status in ("succeeded", "failed"):
            return Step(intent=pi, refund=refund, extra={"already_finished": True})
        attempt.lookups += 1 if call.is_lookup else 0
        attempt.updated = uow.clock.now()
        kind = OperationKind(attempt.kind)
        if kind == OperationKind.AUTHORIZE:
            step = self._finish_authorize(uow, ctx, attempt, pi, outcome, cause)
            self._forget_cvc(uow, ctx, attempt, pi)
            return step
        if kind == OperationKind.CAPTURE:
            return self._finish_capture(uow, ctx, attempt, pi, outcome, cause)
        if kind == OperationKind.VOID:
            return self._finish_void(uow, ctx, attempt, pi, outcome, cause)
        assert refund is not None
        return self._finish_refund(uow, ctx, attempt, pi, refund, outcome, cause)

    def _forget_cvc(
        self, uow: UnitOfWork, ctx: RequestContext, attempt: PaymentAttempt, pi: PaymentIntent
    ) -> None:
        """PCI DSS 3.3.1: the CVC went to the gateway once; destroy it in this transaction.

        One DELETE (usually matching nothing: only a first authorization has a CVC); the
        payment method is loaded only when a CVC was destroyed, to record the check.
        """
        if self.vault is None or not pi.payment_method_id:
            return
        if not self.vault.destroy_cvc(uow, ctx, pi.merchant_id, pi.payment_method_id):
            return
        pm = repo.get_payment_method(uow.session, pi.merchant_id, pi.payment_method_id)
        if pm is None or pm.card_cvc_check != "unchecked":
            return
        if attempt.decline_code == "incorrect_cvc":
            pm.card_cvc_check = "fail"
        elif attempt.status in ("succeeded", "requires_action"):
            pm.card_cvc_check = "pass"
        else:
            pm.card_cvc_check = "unavailable"
        uow.flush()

    def _close(self, uow: UnitOfWork, attempt: PaymentAttempt, status: str) -> None:
        attempt.status = status
        attempt.finished_at = attempt.updated = uow.clock.now()

    def _technical_error(
        self, attempt: PaymentAttempt, error: ConnectorError, pi: PaymentIntent
    ) -> StrongboxError:
        attempt.error_code = type(error).__name__
        attempt.error_message = error.message[:500]
        if isinstance(error, UnknownOutcomeError):
            return GatewayError(
                "The payment gateway did not answer in time. The outcome will be resolved "
                "automatically; retrieve the PaymentIntent to see it.",
                code="gateway_outcome_unknown",
                payment_intent=render_intent(None, pi),
            )
        if isinstance(error, InvalidTokenError):
            return InvalidRequestError(
                "The gateway refused this PaymentMethod's token: it is used up (a single-use "
                "token pays once), expired or revoked. No money was moved; create a payment "
                "method from a new token.",
                code="payment_method_unavailable",
                param="payment_method",
                payment_intent=render_intent(None, pi),
            )
        return GatewayError(
            "The payment gateway could not process the request. No money was moved; "
            "you can safely try again.",
            code="gateway_unavailable" if isinstance(error, RetryableError) else "gateway_error",
            payment_intent=render_intent(None, pi),
        )

    def _payment_error(
        self, pi: PaymentIntent, pm_id: str | None, decline_code: str, message: str | None
    ) -> dict[str, Any]:
        code = _DECLINE_TO_CODE.get(decline_code, "card_declined")
        err: dict[str, Any] = {
            "type": "card_error",
            "code": code,
            "message": _DECLINE_MESSAGES.get(decline_code, message or "Your card was declined."),
            "payment_method": {"id": pm_id} if pm_id else None,
        }
        if code == "card_declined":
            err["decline_code"] = decline_code
        if code in ("incorrect_cvc",):
            err["param"] = "cvc"
        return err

    def _decline(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        attempt: PaymentAttempt,
        pi: PaymentIntent,
        trigger: Trigger,
        decline_code: str,
        message: str | None,
        cause: str,
    ) -> Step:
        attempt.decline_code = decline_code
        self._close(uow, attempt, "failed")
        pi.pending_operation = None
        pi.next_action = None
        pi.last_payment_error = self._payment_error(pi, pi.payment_method_id, decline_code, message)
        self._set_status(uow, ctx, pi, trigger, cause, attempt.id)
        uow.flush()
        self._intent_event(uow, ctx, "payment_intent.payment_failed", pi)
        err = pi.last_payment_error
        return Step(
            intent=pi,
            error=CardError(
                err["message"],
                code=err["code"],
                decline_code=err.get("decline_code"),
                param=err.get("param"),
                payment_intent=render_intent(None, pi),
            ),
        )

    def _finish_authorize(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        attempt: PaymentAttempt,
        pi: PaymentIntent,
        outcome: GatewayOutcome,
        cause: str,
    ) -> Step:
        in_action = attempt.status == "requires_action"
        result = outcome.result
        if outcome.error is not None:
            if isinstance(outcome.error, UnknownOutcomeError):
                attempt.status = "unknown"
                attempt.error_code = "unknown_outcome"
                attempt.error_message = outcome.error.message[:500]
                uow.flush()
                return Step(intent=pi)  # stays processing until the recovery worker resolves it
            if in_action:
                return Step(intent=pi)  # lookup failed; try again later
            if outcome.from_lookup:
                # The lookup failed, not the authorization: it may have charged. Ask again later.
                attempt.status = "unknown"
                uow.flush()
                return Step(intent=pi)
            if isinstance(outcome.error, RetryableError) and attempt.status == "started":
                failover = self._failover(uow, ctx, attempt, pi, outcome.error)
                if failover is not None:
                    return failover
            err = self._technical_error(attempt, outcome.error, pi)
            self._close(uow, attempt, "failed")
            pi.pending_operation = None
            pi.last_payment_error = {
                "type": err.type,
                "code": err.code,
                "message": err.message,
                **({"param": err.param} if err.param else {}),
            }
            self._set_status(uow, ctx, pi, Trigger.FAILED, cause, attempt.id)
            uow.flush()
            self._intent_event(uow, ctx, "payment_intent.payment_failed", pi)
            err.payment_intent = render_intent(None, pi)
            return Step(intent=pi, error=err)
        assert result is not None
        attempt.gateway_status = result.status.value
        if result.gateway_reference:
            attempt.gateway_reference = result.gateway_reference
            pi.gateway_reference = result.gateway_reference
        status = result.status
        if status in (OperationStatus.PENDING,) or (
            status == OperationStatus.REQUIRES_ACTION and in_action
        ):
            if attempt.status == "started" and status == OperationStatus.PENDING:
                attempt.status = "unknown"
            uow.flush()
            return Step(intent=pi)
        if status == OperationStatus.NOT_FOUND:
            # The gateway never saw the request: nothing was charged. Fail the attempt.
            return self._decline(
                uow,
                ctx,
                attempt,
                pi,
                Trigger.ACTION_FAILED if in_action else Trigger.FAILED,
                "processing_error",
                None,
                cause,
            )
        if status == OperationStatus.DECLINED:
            return self._decline(
                uow,
                ctx,
                attempt,
                pi,
                Trigger.ACTION_FAILED if in_action else Trigger.FAILED,
                result.decline_code or "generic_decline",
                result.message,
                cause,
            )
        if status == OperationStatus.REQUIRES_ACTION:
            attempt.status = "requires_action"
            attempt.updated = uow.clock.now()
            action = result.next_action
            attempt.action_reference = action.reference if action else None
            pi.next_action = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": action.redirect_url if action else None,
                    "return_url": pi.return_url,
                },
            }
            pi.pending_operation = None
            self._set_status(uow, ctx, pi, Trigger.ACTION_REQUIRED, cause, attempt.id)
            uow.flush()
            self._intent_event(uow, ctx, "payment_intent.requires_action", pi)
            return Step(intent=pi)
        if in_action:
            pi.next_action = None
            self._set_status(uow, ctx, pi, Trigger.ACTION_COMPLETED, cause, attempt.id)
        if status == OperationStatus.CAPTURED:
            self._close(uow, attempt, "succeeded")
            pi.pending_operation = None
            pi.latest_charge = attempt.charge_id
            pi.amount_received = result.amount if result.amount is not None else attempt.amount
            pi.amount_capturable = 0
            self._set_status(uow, ctx, pi, Trigger.CAPTURED, cause, attempt.id)
            uow.flush()
            self._intent_event(uow, ctx, "payment_intent.succeeded", pi)
            return Step(intent=pi)
        if status == OperationStatus.AUTHORIZED:
            self._close(uow, attempt, "succeeded")
            pi.pending_operation = None
            pi.latest_charge = attempt.charge_id
            pi.amount_capturable = attempt.amount
            self._set_status(uow, ctx, pi, Trigger.AUTHORIZED, cause, attempt.id)
            uow.flush()
            self._intent_event(uow, ctx, "payment_intent.amount_capturable_updated", pi)
            if attempt.capture:
                # The gateway only authorized although we asked for capture: capture now.
                return self.begin_capture(uow, ctx, pi.id, CapturePaymentIntentParams())
            return Step(intent=pi)
        # VOIDED / REFUNDED make no sense for an authorization: keep it for a human.
        attempt.status = "unknown"
        attempt.error_code = f"unexpected_status:{status.value}"
        uow.flush()
        return Step(intent=pi)

    def _finish_capture(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        attempt: PaymentAttempt,
        pi: PaymentIntent,
        outcome: GatewayOutcome,
        cause: str,
    ) -> Step:
        result = outcome.result
        if outcome.error is not None or result is None:
            assert outcome.error is not None
            if isinstance(outcome.error, UnknownOutcomeError):
                attempt.status = "unknown"
                uow.flush()
                return Step(intent=pi, error=self._technical_error(attempt, outcome.error, pi))
            err = self._technical_error(attempt, outcome.error, pi)
            self._close(uow, attempt, "failed")
            pi.pending_operation = None
            uow.flush()
            err.payment_intent = render_intent(None, pi)
            return Step(intent=pi, error=err)
        attempt.gateway_status = result.status.value
        if result.status in (OperationStatus.PENDING,):
            attempt.status = "unknown"
            uow.flush()
            return Step(intent=pi)
        if result.status == OperationStatus.CAPTURED:
            self._close(uow, attempt, "succeeded")
            pi.pending_operation = None
            pi.amount_received = result.amount if result.amount is not None else attempt.amount
            pi.amount_capturable = 0
            self._set_status(uow, ctx, pi, Trigger.CAPTURE, cause, attempt.id)
            uow.flush()
            self._intent_event(uow, ctx, "payment_intent.succeeded", pi)
            return Step(intent=pi)
        # Declined, not found or anything else: the capture did not happen.
        self._close(uow, attempt, "failed")
        attempt.decline_code = result.decline_code
        pi.pending_operation = None
        uow.flush()
        return Step(
            intent=pi,
            error=CardError(
                result.message or "The capture was declined by the gateway.",
                code="card_declined",
                decline_code=result.decline_code,
                payment_intent=render_intent(None, pi),
            ),
        )

    def _finish_void(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        attempt: PaymentAttempt,
        pi: PaymentIntent,
        outcome: GatewayOutcome,
        cause: str,
    ) -> Step:
        result = outcome.result
        if outcome.error is not None or result is None:
            assert outcome.error is not None
            if isinstance(outcome.error, UnknownOutcomeError):
                attempt.status = "unknown"
                uow.flush()
                return Step(intent=pi, error=self._technical_error(attempt, outcome.error, pi))
            err = self._technical_error(attempt, outcome.error, pi)
            self._close(uow, attempt, "failed")
            pi.pending_operation = None
            pi.cancellation_reason = None
            uow.flush()
            err.payment_intent = render_intent(None, pi)
            return Step(intent=pi, error=err)
        attempt.gateway_status = result.status.value
        if result.status == OperationStatus.PENDING:
            attempt.status = "unknown"
            uow.flush()
            return Step(intent=pi)
        if result.status == OperationStatus.VOIDED:
            self._close(uow, attempt, "succeeded")
            if Status(pi.status) == S.REQUIRES_ACTION:
                self._abandon_action(uow, pi)
            self._set_status(uow, ctx, pi, Trigger.CANCEL, cause, attempt.id)
            self._mark_canceled(uow, ctx, pi, pi.cancellation_reason)
            return Step(intent=pi)
        self._close(uow, attempt, "failed")
        pi.pending_operation = None
        pi.cancellation_reason = None
        uow.flush()
        return Step(
            intent=pi,
            error=GatewayError(
                result.message or "The gateway refused to release the authorization.",
                code="gateway_error",
                payment_intent=render_intent(None, pi),
            ),
        )

    def _finish_refund(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        attempt: PaymentAttempt,
        pi: PaymentIntent,
        refund: Refund,
        outcome: GatewayOutcome,
        cause: str,
    ) -> Step:
        result = outcome.result
        if outcome.error is not None or result is None:
            assert outcome.error is not None
            if isinstance(outcome.error, UnknownOutcomeError):
                attempt.status = "unknown"
                uow.flush()
                return Step(intent=pi, refund=refund)  # refund stays pending
            err = self._technical_error(attempt, outcome.error, pi)
            self._fail_refund(uow, ctx, attempt, pi, refund, "gateway_error")
            return Step(intent=pi, refund=refund, error=err)
        attempt.gateway_status = result.status.value
        if result.status == OperationStatus.PENDING:
            attempt.status = "unknown"
            uow.flush()
            return Step(intent=pi, refund=refund)
        if result.status == OperationStatus.REFUNDED:
            self._close(uow, attempt, "succeeded")
            before = render_refund(None, refund, livemode=ctx.livemode)
            refund.status = "succeeded"
            refund.updated = uow.clock.now()
            pi.amount_refund_pending -= refund.amount
            pi.amount_refunded += refund.amount
            pi.updated = uow.clock.now()
            uow.flush()
            after = render_refund(None, refund, livemode=ctx.livemode)
            self._event(
                uow, ctx, "refund.updated", "refund", refund.id, after, _diff(before, after)
            )
            self._event(
                uow,
                ctx,
                "charge.refunded",
                "payment_intent",
                pi.id,
                render_intent(None, pi),
                {"amount_refunded": pi.amount_refunded - refund.amount},
            )
            return Step(intent=pi, refund=refund)
        self._fail_refund(uow, ctx, attempt, pi, refund, result.decline_code or "declined")
        return Step(intent=pi, refund=refund)

    def _fail_refund(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        attempt: PaymentAttempt,
        pi: PaymentIntent,
        refund: Refund,
        reason: str,
    ) -> None:
        self._close(uow, attempt, "failed")
        refund.status = "failed"
        refund.failure_reason = reason[:64]
        refund.updated = uow.clock.now()
        pi.amount_refund_pending -= refund.amount
        pi.updated = uow.clock.now()
        uow.flush()
        self._event(
            uow,
            ctx,
            "refund.failed",
            "refund",
            refund.id,
            render_refund(None, refund, livemode=ctx.livemode),
        )

    # ------------------------------------------------------------------ recovery

    def find_unfinished(
        self, uow: UnitOfWork, *, started_before: datetime, limit: int = 50
    ) -> list[PaymentAttempt]:
        return repo.unfinished_attempts(
            uow.session,
            older_than=started_before,
            statuses=("started", "unknown", "requires_action"),
            limit=limit,
        )

    def find_open_challenges(
        self, uow: UnitOfWork, *, polled_before: datetime, created_after: datetime, limit: int = 50
    ) -> list[PaymentAttempt]:
        """Recent 3DS challenges not looked up since ``polled_before``: status lookups have no
        side effects, so a challenge completed at the gateway is noticed within seconds."""
        return repo.unfinished_attempts(
            uow.session,
            older_than=polled_before,
            statuses=("requires_action",),
            limit=limit,
            created_after=created_after,
        )

    def begin_lookup(self, uow: UnitOfWork, attempt: PaymentAttempt) -> GatewayCall:
        """A status lookup for an unfinished attempt (recovery, or after a 3DS challenge)."""
        attempt.updated = uow.clock.now()  # pushes it back in the recovery queue
        return self._call(
            attempt,
            StatusRequest(
                kind=OperationKind(attempt.kind),
                idempotency_key=attempt.gateway_idempotency_key,
                merchant_id=attempt.merchant_id,
                gateway_reference=attempt.gateway_reference,
            ),
        )

    def begin_action_lookup_by_reference(
        self, uow: UnitOfWork, reference: str
    ) -> GatewayCall | None:
        """After a customer completes a challenge at the gateway: look the attempt up."""
        attempt = repo.attempt_by_action_reference(uow.session, reference)
        if attempt is None or attempt.status != "requires_action":
            return None
        return self.begin_lookup(uow, attempt)

    def find_attempt(self, uow: UnitOfWork, merchant_id: str, attempt_id: str) -> PaymentAttempt:
        attempt = repo.get_attempt(uow.session, merchant_id, attempt_id)
        if attempt is None:
            raise ResourceMissingError(f"No such attempt: '{attempt_id}'")
        return attempt

    def attempts(
        self, uow: UnitOfWork, ctx: RequestContext, intent_id: str
    ) -> list[PaymentAttempt]:
        self._require_intent(uow, ctx, intent_id)
        return repo.attempts_for_intent(uow.session, ctx.merchant_id, intent_id)

    def history(self, uow: UnitOfWork, ctx: RequestContext, intent_id: str) -> list[StatusChange]:
        self._require_intent(uow, ctx, intent_id)
        return repo.status_history(uow.session, ctx.merchant_id, intent_id)

    # ------------------------------------------------------------------ operator resolution

    #: What an operator may record for an unresolved attempt, per kind of operation.
    OPERATOR_OUTCOMES: dict[str, tuple[str, ...]] = {
        "authorize": ("authorized", "captured", "declined", "not_processed"),
        "capture": ("captured", "declined", "not_processed"),
        "void": ("voided", "declined", "not_processed"),
        "refund": ("refunded", "declined", "not_processed"),
    }

    def resolve_by_operator(
        self,
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

        For gateways that cannot be asked (Adyen has no status lookup) and requests whose
        webhook never comes (one that never reached the gateway). Only an attempt with no
        gateway call in flight can be resolved: an ``unknown`` one, or a ``started`` one (the
        process died around the call) created before ``started_before`` (the recovery
        age). The outcome goes through ``finish`` and the state machine like a gateway's
        answer, with cause ``operator``, and the decision with its note is an audit entry in
        the same transaction.
        """
        attempt = repo.get_attempt(uow.session, ctx.merchant_id, attempt_id, lock=True)
        if attempt is None:
            raise ResourceMissingError(f"No such attempt: '{attempt_id}'", param="attempt")
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
        allowed = self.OPERATOR_OUTCOMES[attempt.kind]
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
        status = {
            "authorized": OperationStatus.AUTHORIZED,
            "captured": OperationStatus.CAPTURED,
            "declined": OperationStatus.DECLINED,
            "voided": OperationStatus.VOIDED,
            "refunded": OperationStatus.REFUNDED,
            "not_processed": OperationStatus.NOT_FOUND,
        }[outcome]
        result = OperationResult(
            status=status,
            gateway_reference=reference,
            amount=attempt.amount,
            decline_code=(decline_code or "generic_decline")
            if status == OperationStatus.DECLINED
            else None,
            message="Resolved by an operator." if status == OperationStatus.DECLINED else None,
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
        call = self.begin_lookup(uow, attempt)
        step = self.finish(uow, ctx, call, GatewayOutcome(result=result), cause="operator")
        step.extra["attempt"] = attempt  # as finished (the session's one object for the row)
        return step

    # ------------------------------------------------------------------ gateway reports

    _REPORT_KINDS: dict[ReportKind, tuple[str, ...]] = {
        ReportKind.PAYMENT_AUTHORIZED: ("authorize",),
        ReportKind.PAYMENT_CAPTURED: ("authorize", "capture"),
        ReportKind.PAYMENT_FAILED: ("authorize", "capture"),
        ReportKind.PAYMENT_VOIDED: ("void",),
        ReportKind.VOID_FAILED: ("void",),
        ReportKind.REFUND_SUCCEEDED: ("refund",),
        ReportKind.REFUND_FAILED: ("refund",),
    }

    def apply_gateway_report(
        self, uow: UnitOfWork, ctx: RequestContext, report: GatewayReport
    ) -> str:
        """Apply an outcome the gateway reported by itself (a verified webhook).

        The report goes through ``finish`` like a direct answer: an attempt that is already
        finished is left alone, and the state machine refuses anything out of order, so
        duplicate and late reports are harmless. Returns a short description of the effect.
        """
        if report.kind == ReportKind.DISPUTE_OPENED:
            return self._open_dispute(uow, ctx, report)
        kinds = self._REPORT_KINDS[report.kind]
        attempt: PaymentAttempt | None = None
        if report.idempotency_key:
            attempt = repo.attempt_by_gateway_key(
                uow.session, ctx.merchant_id, report.connector, report.idempotency_key
            )
            if attempt is not None and attempt.kind not in kinds:
                return f"ignored: {report.kind} does not apply to a {attempt.kind} operation"
        if attempt is None and report.gateway_reference:
            candidates = repo.open_attempts_by_reference(
                uow.session, ctx.merchant_id, report.connector, report.gateway_reference, kinds
            )
            if report.amount is not None and kinds == ("refund",):
                candidates = [a for a in candidates if a.amount == report.amount]
            attempt = candidates[0] if candidates else None
        if attempt is None:
            return "ignored: no matching operation"
        if attempt.status in ("succeeded", "failed"):
            return f"ignored: {attempt.id} already {attempt.status}"
        result = self._report_result(report, attempt)
        if result is None:
            return f"ignored: {report.kind} does not apply to {attempt.id}"
        call = self.begin_lookup(uow, attempt)
        step = self.finish(uow, ctx, call, GatewayOutcome(result=result), cause="webhook")
        pi = step.intent
        return f"applied to {attempt.id}: payment_intent {pi.status if pi else 'unchanged'}"

    @staticmethod
    def _report_result(report: GatewayReport, attempt: PaymentAttempt) -> OperationResult | None:
        k = ReportKind
        status: OperationStatus | None = None
        if report.kind == k.PAYMENT_CAPTURED and (attempt.kind == "capture" or attempt.capture):
            status = OperationStatus.CAPTURED
        elif report.kind == k.PAYMENT_AUTHORIZED and not attempt.capture:
            status = OperationStatus.AUTHORIZED
        elif report.kind == k.PAYMENT_AUTHORIZED and report.authorization_captures:
            status = OperationStatus.CAPTURED
        elif report.kind in (k.PAYMENT_FAILED, k.REFUND_FAILED, k.VOID_FAILED):
            status = OperationStatus.DECLINED
        elif report.kind == k.PAYMENT_VOIDED:
            status = OperationStatus.VOIDED
        elif report.kind == k.REFUND_SUCCEEDED:
            status = OperationStatus.REFUNDED
        if status is None:
            return None
        return OperationResult(
            status=status,
            gateway_reference=attempt.gateway_reference or report.gateway_reference,
            amount=report.amount if report.amount is not None else attempt.amount,
            decline_code=(report.decline_code or "generic_decline")
            if status == OperationStatus.DECLINED
            else None,
            message=None,
            raw_status=report.kind.value,
        )

    def _open_dispute(self, uow: UnitOfWork, ctx: RequestContext, report: GatewayReport) -> str:
        if not report.dispute_id or not report.gateway_reference:
            return "ignored: dispute without id or payment reference"
        existing = repo.get_dispute_by_gateway_id(
            uow.session, ctx.merchant_id, report.connector, report.dispute_id
        )
        if existing is not None:
            return f"ignored: dispute {existing.id} already recorded"
        pi = repo.intent_by_reference(
            uow.session, ctx.merchant_id, report.connector, report.gateway_reference
        )
        if pi is None:
            return "ignored: no payment with that gateway reference"
        now = uow.clock.now()
        dispute = Dispute(
            id=new_id("dispute"),
            merchant_id=ctx.merchant_id,
            payment_intent_id=pi.id,
            charge_id=pi.latest_charge,
            connector=report.connector,
            gateway_dispute_id=report.dispute_id[:128],
            amount=report.amount if report.amount is not None else pi.amount_received,
            currency=(report.currency or pi.currency).lower()[:3],
            reason=(report.dispute_reason or "general")[:64],
            status="needs_response",
            created=now,
            updated=now,
        )
        uow.session.add(dispute)
        uow.flush()
        self._event(
            uow,
            ctx,
            "charge.dispute.created",
            "dispute",
            dispute.id,
            render_dispute(dispute, ctx.livemode),
        )
        return f"applied: dispute {dispute.id} opened on {pi.id}"


def _merge_metadata(current: dict[str, Any], update: dict[str, str] | str | None) -> dict[str, Any]:
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


def _address(value: Any) -> dict[str, Any] | None:
    if not value:
        return None
    data: dict[str, Any] = value.model_dump()
    return {k: data.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in before.items() if after.get(k) != v}
