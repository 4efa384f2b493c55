"""Payment methods held by a gateway: a Stripe ``pm_…``/``tok_…`` made by Stripe.js, a Braintree
nonce made by its client SDK.

Strongbox never sees the card behind such a token. The merchant's server wraps the token in a
Strongbox ``pm_…`` bound to the one connector account whose gateway made it
(``POST /v1/payment_methods`` with ``type=card``, ``card[token]`` and the Strongbox extension
``connector_account``). The gateway describes the card first (brand, last four, expiry,
country), so the payment method renders like any other; that read happens before the
request's transaction, as every network call does. Payments with it are routed to that account
only, with no failover: no other gateway can use the token.

This module holds the rules that need no database and the gateway read; the payments service
writes the payment method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from strongbox.connectors.base import (
    ConnectorError,
    Credentials,
    InvalidTokenError,
    RetryableError,
    TokenDetails,
    UnsupportedTokenError,
)
from strongbox.core.errors import (
    GatewayError,
    InvalidRequestError,
    ParameterMissingError,
    ResourceMissingError,
    StrongboxError,
)
from strongbox.payments.schemas import CreatePaymentMethodParams, PaymentMethodDataParams
from strongbox.payments.test_methods import lookup_test_card
from strongbox.vault.cards import BRANDS

GATEWAY_PREFIX = "gateway:"
MAX_TOKEN_LENGTH = 255
# Gateway tokens are identifiers (pm_…, tok_…, Braintree nonces, UUIDs): no spaces, no markup.
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.:]*")
_LAST4_RE = re.compile(r"[0-9*]{4}")
_FUNDING = frozenset({"credit", "debit", "prepaid"})


@dataclass(frozen=True, slots=True)
class TokenTarget:
    """Where one gateway token lives: the account, its connector and its credentials."""

    token: str
    account_id: str
    connector: str
    merchant_id: str
    credentials: Credentials

    def __repr__(self) -> str:  # the token stays out of logs, like any payment credential
        return f"TokenTarget(account_id={self.account_id!r}, connector={self.connector!r})"


def requested_token(p: CreatePaymentMethodParams) -> tuple[str, str] | None:
    """``(token, connector_account)`` when the request wraps a gateway token; None when it
    carries card data or one of Stripe's public test tokens (``tok_visa`` …). No database."""
    card = p.card
    token = card.token if card is not None else None
    if token is None:
        if p.connector_account is not None:
            raise InvalidRequestError(
                "connector_account can only be passed with card[token]: it names the "
                "connector account whose gateway made the token.",
                param="connector_account",
            )
        return None
    assert card is not None
    if p.type is None:  # checked before the gateway is asked anything
        raise ParameterMissingError("Missing required param: type.", param="type")
    given = [n for n in ("number", "exp_month", "exp_year", "cvc") if getattr(card, n) is not None]
    if given:
        raise InvalidRequestError(
            f"You cannot pass card[{given[0]}] with card[token]: a token stands for the card "
            "details.",
            param=f"card[{given[0]}]",
        )
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_RE.fullmatch(token):
        raise InvalidRequestError(
            f"Invalid card[token]: a gateway token is 1 to {MAX_TOKEN_LENGTH} letters, digits "
            "and _-.: characters.",
            param="card[token]",
            code="parameter_invalid",
        )
    if p.connector_account is None:
        if lookup_test_card(token) is not None:
            return None  # a Stripe test token: materialized like pm_card_visa
        raise ParameterMissingError(
            "Missing required param: connector_account. A card[token] is made by one of your "
            "connector accounts' gateways (a Stripe pm_… or tok_…, a Braintree nonce): pass "
            "that account's id.",
            param="connector_account",
        )
    return token, p.connector_account


def from_payment_method_data(data: PaymentMethodDataParams) -> CreatePaymentMethodParams:
    """The payment method a PaymentIntent's ``payment_method_data`` asks for. Only a
    ``card[token]`` (a gateway's token, or a Stripe test token): card details are taken by
    ``POST /v1/payment_methods`` and hosted fields, where the vault keeps them."""
    if data.type is None:
        raise ParameterMissingError("Missing required param: type.", param="type")
    card = data.card
    if card is None:
        raise ParameterMissingError("Missing required param: card.", param="card")
    if card.token is None:
        raise ParameterMissingError(
            "Missing required param: card[token]. payment_method_data takes a gateway's token; "
            "send card details to POST /v1/payment_methods (or hosted fields) and pass the "
            "payment_method it returns.",
            param="card[token]",
        )
    return CreatePaymentMethodParams(
        type=data.type,
        card=card,
        connector_account=data.connector_account,
        metadata=data.metadata,
    )


def card_fields(details: TokenDetails) -> dict[str, object]:
    """The payment method's card columns from the gateway's description, checked: a gateway
    answer outside Stripe's words becomes ``unknown``, never a 500 or a bad object."""
    # A gateway that gives fewer digits says so with "*" ("**42"): never invent digits.
    last4 = details.last4 if _LAST4_RE.fullmatch(details.last4) else "****"
    month = details.exp_month if 1 <= details.exp_month <= 12 else 1
    year = details.exp_year if 1000 <= details.exp_year <= 9999 else 1970
    raw_country = details.country or ""
    ok = len(raw_country) == 2 and raw_country.isascii() and raw_country.isalpha()
    country = raw_country.upper() if ok else None
    return {
        "card_brand": details.brand if details.brand in BRANDS else "unknown",
        "card_last4": last4,
        "card_exp_month": month,
        "card_exp_year": year,
        "card_funding": details.funding if details.funding in _FUNDING else "unknown",
        "card_country": country,
        "fingerprint": details.fingerprint[:64] if details.fingerprint else None,
    }


def token_error(target: TokenTarget, error: ConnectorError) -> StrongboxError:
    """What the API answers when the gateway could not describe ``target``'s token."""
    if isinstance(error, UnsupportedTokenError):
        return InvalidRequestError(
            f"The {target.connector} gateway knows this card[token] but Strongbox cannot pay "
            f"with it: {error.message}.",
            param="card[token]",
            code="parameter_invalid",
        )
    if isinstance(error, InvalidTokenError):
        return ResourceMissingError(
            f"The {target.connector} gateway of connector account {target.account_id} does "
            "not know this card[token], or it can no longer be used (a single-use token "
            "already used, expired, or made for another account).",
            param="card[token]",
        )
    if isinstance(error, RetryableError):
        return GatewayError(
            f"The {target.connector} gateway could not be reached to read the token; "
            "nothing was created. Try again.",
            code="gateway_unavailable",
        )
    return GatewayError(
        f"The {target.connector} gateway refused to read the token"
        f"{' (' + error.gateway_code + ')' if error.gateway_code else ''}: check the "
        "connector account's credentials.",
        code="gateway_error",
    )
