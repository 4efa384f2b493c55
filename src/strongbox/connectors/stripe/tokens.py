"""Stripe's card tokens (PaymentMethods, legacy Tokens), their brands and funding words, and
Stripe's error bodies turned into our results and errors (``connector.py`` uses them)."""

from __future__ import annotations

import re
from typing import Any

from strongbox.connectors.base import (
    InvalidTokenError,
    OperationResult,
    OperationStatus,
    TerminalError,
)

#: A PaymentMethod or a legacy Token id, as Stripe makes them (safe in a URL path).
TOKEN = re.compile(r"^(pm|tok)_[A-Za-z0-9_]{1,250}$")
#: A PaymentMethod a Stripe customer holds, as ``describe_token`` hands it back to be stored:
#: Stripe charges it only with that customer named on the PaymentIntent.
HELD_PM = re.compile(r"(pm_[A-Za-z0-9_]{1,250})\|(cus_[A-Za-z0-9_]{1,250})")
CUSTOMER = re.compile(r"cus_[A-Za-z0-9_]{1,250}")
MAX_STORED_TOKEN = 255  # payment_methods.gateway_token
#: Parameters naming the token in a PaymentIntent create, as Stripe's ``error.param`` says.
TOKEN_PARAMS = frozenset({"payment_method", "payment_method_data[card][token]"})
#: Error codes saying a token exists but can no longer be used.
SPENT_TOKEN_CODES = frozenset({"token_already_used", "payment_method_unexpected_state"})
#: The PaymentMethod words of ``card.brand``; anything else is ``unknown``.
PM_BRANDS = frozenset(
    {"visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "unknown"}
)
#: A legacy Token's card (``card.brand``) spells brands the old way.
TOKEN_BRANDS = {
    "Visa": "visa",
    "MasterCard": "mastercard",
    "American Express": "amex",
    "Discover": "discover",
    "JCB": "jcb",
    "Diners Club": "diners",
    "UnionPay": "unionpay",
    "Unknown": "unknown",
}
FUNDING = frozenset({"credit", "debit", "prepaid", "unknown"})


def decline(
    error: dict[str, Any], ref: str | None, amount: int | None, raw: str
) -> OperationResult:
    code = error.get("decline_code") or error.get("code") or "generic_decline"
    if code == "card_declined":
        code = "generic_decline"
    message = error.get("message") if isinstance(error.get("message"), str) else None
    return OperationResult(
        status=OperationStatus.DECLINED,
        gateway_reference=ref,
        amount=amount,
        decline_code=str(code),
        message=message or "Your card was declined.",
        raw_status=raw,
        details={"code": error.get("code")},
    )


def token_kind(token: str) -> str:
    """``pm`` or ``tok``; ``InvalidTokenError`` for anything Stripe.js does not make."""
    match = TOKEN.match(token)
    if match is None:
        raise InvalidTokenError(
            "not a Stripe PaymentMethod (pm_…) or card token (tok_…)", gateway_code="invalid_token"
        )
    return match.group(1)


def token_form(token: str) -> dict[str, str]:
    """The PaymentIntent parameters naming the card by Stripe's own token."""
    held = HELD_PM.fullmatch(token)
    if held is not None:
        return {"payment_method": held.group(1), "customer": held.group(2)}
    if token_kind(token) == "pm":
        return {"payment_method": token}
    return {"payment_method_data[type]": "card", "payment_method_data[card][token]": token}


def raise_for_token_error(error: dict[str, Any]) -> None:
    """``InvalidTokenError`` when Stripe refused a PaymentIntent for its token."""
    code = error.get("code") if isinstance(error.get("code"), str) else None
    param = error.get("param") if isinstance(error.get("param"), str) else None
    message = str(error.get("message") or "")
    if code == "resource_missing" and param in TOKEN_PARAMS:
        raise InvalidTokenError(
            "Stripe does not know this token on this account", gateway_code=code
        )
    if code in SPENT_TOKEN_CODES:
        raise InvalidTokenError("this Stripe token can no longer be used", gateway_code=code)
    if param == "payment_method" and "may not be used again" in message:
        raise InvalidTokenError(
            "this Stripe PaymentMethod was already used without a customer and may not be "
            "used again",
            gateway_code=code or "payment_method_unexpected_state",
        )


def int_or(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def path(reference: str) -> str:
    if not reference or "/" in reference or "?" in reference:
        raise TerminalError("invalid gateway reference", gateway_code="invalid_reference")
    return reference
