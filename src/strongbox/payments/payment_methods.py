"""Payment methods: cards tokenized in the vault, Stripe's public test methods, and tokens a
gateway made itself (a Stripe ``pm_…``/``tok_…``, a Braintree nonce), attached to customers."""

from __future__ import annotations

from typing import Any

from strongbox.banking import repository as bank_repo
from strongbox.connectors.base import Capability, TokenDetails, TokenRequest
from strongbox.core.errors import InvalidRequestError, ParameterMissingError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.core.secret import Secret
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import repository as repo
from strongbox.payments import store
from strongbox.payments.cards import VAULT_PREFIX
from strongbox.payments.common import merge_metadata, require_customer
from strongbox.payments.deps import Payments
from strongbox.payments.gateway import guarded
from strongbox.payments.gateway_tokens import (
    GATEWAY_PREFIX,
    TokenTarget,
    card_fields,
    requested_token,
    token_error,
)
from strongbox.payments.models import PaymentMethod
from strongbox.payments.schemas import CreatePaymentMethodParams, render_payment_method
from strongbox.payments.test_methods import lookup_test_card
from strongbox.vault.cards import validate_card


def resolve(
    uow: UnitOfWork, ctx: RequestContext, pm_id: str, param: str = "payment_method"
) -> PaymentMethod:
    """An existing ``pm_…`` of this merchant, or a new one materialized from a test method."""
    if lookup_test_card(pm_id) is not None:
        return stripe_test_method(uow, ctx, pm_id)
    pm_row = store.get_payment_method(uow, ctx.merchant_id, pm_id)
    if pm_row is None:
        raise ResourceMissingError(f"No such PaymentMethod: '{pm_id}'", param=param)
    return pm_row


def stripe_test_method(
    uow: UnitOfWork, ctx: RequestContext, name: str, metadata: dict[str, Any] | None = None
) -> PaymentMethod:
    """A new ``pm_…`` for one of Stripe's public test methods (``pm_card_visa``…)."""
    card = lookup_test_card(name)
    if card is None:
        raise ResourceMissingError(f"No such PaymentMethod: '{name}'", param="payment_method")
    now = uow.clock.now()
    pm = store.new_payment_method(
        {
            "id": new_id("payment_method"),
            "merchant_id": ctx.merchant_id,
            "type": "card",
            "card_brand": card.brand,
            "card_last4": card.last4,
            "card_exp_month": 12,
            "card_exp_year": now.year + 3,
            "card_funding": card.funding,
            "card_country": card.country,
            "fingerprint": card.fingerprint,
            "card_source": f"test:{name}",
            "billing_details": {},
            "metadata_": metadata or {},
            "created": now,
        }
    )
    return store.add_payment_method(uow, pm)


def _require_card_params(p: CreatePaymentMethodParams) -> None:
    if p.type is None:
        raise ParameterMissingError("Missing required param: type.", param="type")
    if p.card is None:
        raise ParameterMissingError("Missing required param: card.", param="card")


def create_card(
    deps: Payments, uow: UnitOfWork, ctx: RequestContext, p: CreatePaymentMethodParams
) -> PaymentMethod:
    """Validate a card, store it in the vault and return a new ``pm_…`` (no CVC kept beyond
    the first authorization or its TTL). ``card[token]`` with one of Stripe's test tokens
    makes a test payment method, as Stripe does in test mode."""
    vault = deps.require_vault()
    _require_card_params(p)
    card = p.card
    assert card is not None
    if card.token is not None:
        if requested_token(p) is not None:
            raise InvalidRequestError(
                "This card[token] belongs to a connector account's gateway.",
                param="card[token]",
            )
        return stripe_test_method(uow, ctx, card.token, merge_metadata({}, p.metadata))
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
    pm = store.new_payment_method(
        {
            "id": pm_id,
            "merchant_id": ctx.merchant_id,
            "type": "card",
            "card_brand": valid.brand.brand,
            "card_last4": valid.last4,
            "card_exp_month": valid.exp_month,
            "card_exp_year": valid.exp_year,
            "card_funding": valid.funding,
            "card_country": valid.country,
            "fingerprint": vault.fingerprint(uow.session, ctx.merchant_id, valid.pan),
            "card_cvc_check": "unchecked" if valid.cvc is not None else None,
            "card_source": f"{VAULT_PREFIX}{token}",
            "billing_details": {},
            "metadata_": merge_metadata({}, p.metadata),
            "created": uow.clock.now(),
        }
    )
    store.add_payment_method(uow, pm)
    raise_event(
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


def create_bank_account(
    uow: UnitOfWork, ctx: RequestContext, p: CreatePaymentMethodParams
) -> PaymentMethod:
    """A ``us_bank_account`` PaymentMethod from a linked Financial Connections account: one
    linked with the ``payment_method`` permission (its ACH numbers were read and sealed on the
    account), still connected, a cash account. The PaymentMethod keeps the routing number and
    last4 only; the numbers stay sealed on the account."""
    if p.us_bank_account is None:
        raise ParameterMissingError(
            "Missing required param: us_bank_account[financial_connections_account].",
            param="us_bank_account[financial_connections_account]",
        )
    if p.card is not None:
        raise InvalidRequestError("card cannot be given with type us_bank_account.", param="card")
    param = "us_bank_account[financial_connections_account]"
    fca = p.us_bank_account.financial_connections_account
    a = bank_repo.get_account(uow.session, ctx.merchant_id, fca)
    if a is None:
        raise ResourceMissingError(f"No such financial_connections.account: '{fca}'", param=param)
    if a.numbers_sealed is None or "payment_method" not in a.permissions:
        raise InvalidRequestError(
            "This account was linked without the payment_method permission: its account and "
            "routing numbers were not read.",
            param=param,
            code="account_not_debitable",
        )
    if a.status != "active" or a.category != "cash":
        raise InvalidRequestError(
            f"This account cannot be debited (status {a.status}, category {a.category}).",
            param=param,
            code="account_not_debitable",
        )
    pm = store.new_payment_method(
        {
            "id": new_id("payment_method"),
            "merchant_id": ctx.merchant_id,
            "type": "us_bank_account",
            "card_brand": "",
            "card_last4": a.account_last4 or "",
            "card_exp_month": 0,
            "card_exp_year": 0,
            "card_funding": "",
            "card_country": "US",
            "fingerprint": None,
            "card_source": f"bank:{a.id}",
            "bank_account": {
                "financial_connections_account": a.id,
                "bank_name": a.institution_name,
                "account_type": a.subcategory if a.subcategory in ("checking", "savings") else None,
                "account_holder_type": "individual",
                "routing_number": a.routing_number,
                "last4": a.account_last4,
            },
            "billing_details": {},
            "metadata_": merge_metadata({}, p.metadata),
            "created": uow.clock.now(),
        }
    )
    pm = store.add_payment_method(uow, pm)
    raise_event(
        uow,
        ctx,
        "strongbox.payment_method.created",
        "payment_method",
        pm.id,
        {"id": pm.id, "type": pm.type, "financial_connections_account": a.id},
    )
    return pm


def gateway_token_target(
    deps: Payments, uow: UnitOfWork, ctx: RequestContext, token: str, account_id: str
) -> TokenTarget:
    """The connector account that made ``token``, with its credentials for one read."""
    if deps.routing is None:
        raise InvalidRequestError(
            "Gateway tokens need connector accounts, and this server has none.",
            param="connector_account",
        )
    account = deps.routing.token_account(
        uow.session, ctx.merchant_id, account_id, param="connector_account"
    )
    return TokenTarget(
        token=token,
        account_id=account.id,
        connector=account.connector,
        merchant_id=ctx.merchant_id,
        credentials=deps.routing.account_credentials(account),
    )


def describe_gateway_token(deps: Payments, target: TokenTarget) -> TokenDetails:
    """Ask the gateway for the token's card. A network call: never in a transaction."""
    connector = deps.connectors.get(target.connector)
    if not connector.supports(Capability.GATEWAY_TOKEN):
        raise InvalidRequestError(
            f"The {target.connector} connector does not accept gateway tokens.",
            param="connector_account",
            code="parameter_invalid",
        )
    request = TokenRequest(
        token=target.token, merchant_id=target.merchant_id, credentials=target.credentials
    )
    details, error, _ = guarded(
        deps,
        target.connector,
        "describe_token",
        target.merchant_id,
        target.account_id,
        lambda: connector.describe_token(request),
        lambda _: "ok",
        blocking=connector.blocking,
    )
    if error is not None:
        raise token_error(target, error)
    assert details is not None
    return details


def create_gateway(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    p: CreatePaymentMethodParams,
    target: TokenTarget,
    details: TokenDetails,
) -> PaymentMethod:
    """A ``pm_…`` standing for ``target``'s token, bound to its connector account."""
    _require_card_params(p)
    if deps.routing is not None:  # still there and enabled, in this transaction
        deps.routing.token_account(
            uow.session, ctx.merchant_id, target.account_id, param="connector_account"
        )
    pm = store.new_payment_method(
        {
            "id": new_id("payment_method"),
            "merchant_id": ctx.merchant_id,
            "type": "card",
            **card_fields(details),
            "card_source": f"{GATEWAY_PREFIX}{target.connector}",
            "connector_account_id": target.account_id,
            "gateway_token": details.token or target.token,
            "billing_details": {},
            "metadata_": merge_metadata({}, p.metadata),
            "created": uow.clock.now(),
        }
    )
    store.add_payment_method(uow, pm)
    raise_event(
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


def retrieve(uow: UnitOfWork, ctx: RequestContext, pm_id: str) -> PaymentMethod:
    pm = store.get_payment_method(uow, ctx.merchant_id, pm_id)
    if pm is None:
        raise ResourceMissingError(f"No such PaymentMethod: '{pm_id}'", param="payment_method")
    return pm


def attach(uow: UnitOfWork, ctx: RequestContext, pm_id: str, customer_id: str) -> PaymentMethod:
    cust = require_customer(uow, ctx, customer_id)
    pm = resolve(uow, ctx, pm_id)
    if pm.customer_id is not None and pm.customer_id != cust.id:
        raise InvalidRequestError(
            "This PaymentMethod is already attached to another customer.",
            param="payment_method",
            code="payment_method_unexpected_state",
        )
    if pm.customer_id != cust.id:
        pm.customer_id = cust.id
        uow.flush()
        raise_event(
            uow,
            ctx,
            "payment_method.attached",
            "payment_method",
            pm.id,
            render_payment_method(uow.session, pm, livemode=ctx.livemode),
        )
    return pm


def detach(uow: UnitOfWork, ctx: RequestContext, pm_id: str) -> PaymentMethod:
    pm = retrieve(uow, ctx, pm_id)
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
    raise_event(
        uow,
        ctx,
        "payment_method.detached",
        "payment_method",
        pm.id,
        render_payment_method(uow.session, pm, livemode=ctx.livemode),
        previous=previous,
    )
    return pm


def list_(
    uow: UnitOfWork,
    ctx: RequestContext,
    page: PageRequest,
    customer: str | None,
    type_: str | None,
) -> Page[PaymentMethod]:
    if customer is not None:
        require_customer(uow, ctx, customer)
    return repo.list_payment_methods(
        uow.session, ctx.merchant_id, page, customer=customer, type_=type_
    )
