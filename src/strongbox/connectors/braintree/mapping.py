"""Braintree's statuses, processor and gateway codes, card data and errors, mapped onto ours
(the tables the connector's docstring describes; ``connector.py`` uses them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import braintree
import requests
from urllib3.exceptions import NewConnectionError

from strongbox.connectors.base import (
    OperationResult,
    OperationStatus,
    TerminalError,
    TokenDetails,
    UnsupportedTokenError,
)
from strongbox.core.countries import alpha2
from strongbox.core.currencies import get_currency

CAPTURED = {"submitted_for_settlement", "settling", "settled", "settlement_pending"}
DECLINED = {"processor_declined", "gateway_rejected", "failed", "settlement_declined"}
PROCESSOR_CODES = {
    "2000": "do_not_honor",
    "2001": "insufficient_funds",
    "2004": "expired_card",
    "2005": "incorrect_number",
    "2010": "incorrect_cvc",
    "2012": "lost_card",
    "2013": "stolen_card",
    "2014": "fraudulent",
    "2015": "transaction_not_allowed",
    "2044": "call_issuer",
    "2046": "generic_decline",
    "3000": "processing_error",
}
REJECTIONS = {
    "cvv": "incorrect_cvc",
    "avs": "incorrect_zip",
    "avs_and_cvv": "incorrect_cvc",
    "fraud": "fraudulent",
    "risk_threshold": "fraudulent",
    "three_d_secure": "authentication_required",
}
# Validation errors on the card number: the card is unusable, a decline rather than a bug.
CARD_NUMBER_ERRORS = {"81715": "incorrect_number", "81716": "incorrect_number"}
EXPIRY_ERRORS = {"81710", "81711", "81712", "81713"}
# The merchant account does not accept this card's brand (CreditCard.CreditCardTypeIsNotAccepted,
# and the same for a nonce's card): a decline the customer can answer with another card, not
# a technical error to retry.
CARD_TYPE_ERRORS = {"81703", "91567", "91734"}
# Validation errors on a payment method nonce: Braintree does not know it (never made, expired
# after its three hours, made for another merchant) or it can no longer be used. The sale's own
# codes (Transaction.PaymentMethodNonce*), and the same errors as reported for a nonce nested
# in a payment method or credit card.
NONCE_ERRORS = {
    "91565": "unknown",  # Transaction.PaymentMethodNonceUnknown
    "91564": "consumed",  # Transaction.PaymentMethodNonceConsumed
    "91566": "locked",  # Transaction.PaymentMethodNonceLocked
    "93108": "unknown",  # PaymentMethod.PaymentMethodNonceUnknown
    "93107": "consumed",  # PaymentMethod.PaymentMethodNonceConsumed
    "93109": "locked",  # PaymentMethod.PaymentMethodNonceLocked
    "91732": "unknown",  # CreditCard.PaymentMethodNonceUnknown
    "91731": "consumed",  # CreditCard.PaymentMethodNonceConsumed
    "91733": "locked",  # CreditCard.PaymentMethodNonceLocked
}
# Braintree's card_type words -> Stripe's brand words. Maestro and Visa Electron are reported
# under their network, as Stripe does; brands Stripe has no word for are "unknown".
BRANDS = {
    "visa": "visa",
    "electron": "visa",
    "mastercard": "mastercard",
    "maestro": "mastercard",
    "uk maestro": "mastercard",
    "american express": "amex",
    "discover": "discover",
    "diners club": "diners",
    "carte blanche": "diners",
    "jcb": "jcb",
    "china unionpay": "unionpay",
    "unionpay": "unionpay",
}


def parse_environment(value: str) -> braintree.Environment:
    """``sandbox``, ``production``, or a base URL (``http://127.0.0.1:9000``)."""
    named = {
        "sandbox": braintree.Environment.Sandbox,
        "production": braintree.Environment.Production,
    }
    if value in named:
        return named[value]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the Braintree environment must be sandbox, production or a URL")
    ssl = parts.scheme == "https"
    port = str(parts.port or (443 if ssl else 80))
    return braintree.Environment(
        "strongbox", parts.hostname, port, value.rstrip("/"), ssl, None if not ssl else True
    )


def decimal(amount: int, currency: str) -> str:
    cur = get_currency(currency.upper())
    if cur is None:
        raise TerminalError(f"unknown currency {currency!r}", gateway_code="currency")
    return str(Decimal(f"{amount}E-{cur.exponent}").quantize(Decimal(1).scaleb(-cur.exponent)))


def minor(value: Any, currency: str | None) -> int | None:
    if value is None or currency is None:
        return None
    cur = get_currency(str(currency).upper())
    if cur is None:
        return None
    return int(Decimal(str(value)).scaleb(cur.exponent))


def refused(exc: requests.exceptions.ConnectionError) -> bool:
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


def error_codes(result: Any) -> list[str]:
    errors = getattr(result, "errors", None)
    deep = getattr(errors, "deep_errors", None) or []
    return [str(e.code) for e in deep]


def validation_decline(code: str) -> OperationResult:
    messages = {
        "incorrect_number": "Your card number is incorrect.",
        "expired_card": "Your card has expired.",
        "card_not_supported": "Your card is not supported.",
    }
    return OperationResult(
        status=OperationStatus.DECLINED,
        decline_code=code,
        message=messages.get(code, "Your card was declined."),
        raw_status="validation_error",
    )


def decline_code(txn: Any) -> str:
    if getattr(txn, "status", None) == "gateway_rejected":
        reason = str(getattr(txn, "gateway_rejection_reason", "") or "")
        return REJECTIONS.get(reason, "generic_decline")
    code = str(getattr(txn, "processor_response_code", "") or "")
    if code in PROCESSOR_CODES:
        return PROCESSOR_CODES[code]
    return "processing_error" if code.startswith("3") else "generic_decline"


NONCE_MESSAGES = {
    "unknown": "Braintree does not know this payment method nonce (never made or expired)",
    "consumed": "this payment method nonce has already been used",
    "locked": "this payment method nonce is locked",
}


def token_details(nonce: Any) -> TokenDetails:
    """A card nonce's ``details`` and ``bin_data`` in our (Stripe's) words."""
    details: dict[str, Any] = getattr(nonce, "details", None) or {}
    card_type = str(details.get("card_type") or "")
    if not card_type:
        raise UnsupportedTokenError(
            f"this Braintree nonce is not for a card ({getattr(nonce, 'type', None)})",
            gateway_code="unsupported_payment_method",
        )
    last4 = str(details.get("last_four") or "")
    if not last4:
        # Only the last two digits: the other two are unknown, and stay visibly masked.
        last4 = str(details.get("last_two") or "").rjust(4, "*")
    try:
        exp_month = int(details["expiration_month"])
        exp_year = int(details["expiration_year"])
    except (KeyError, TypeError, ValueError):
        raise TerminalError(
            "Braintree gave no expiry date for this nonce", gateway_code="unexpected_response"
        ) from None
    bin_data = getattr(nonce, "bin_data", None)
    return TokenDetails(
        brand=BRANDS.get(card_type.lower(), "unknown"),
        last4=last4,
        exp_month=exp_month,
        exp_year=exp_year,
        funding=funding(bin_data),
        country=alpha2(str(getattr(bin_data, "country_of_issuance", "") or "")),
        fingerprint=None,  # a nonce carries no card fingerprint
        reusable=False,  # a nonce is single use
    )


def funding(bin_data: Any) -> str:
    """Braintree's ``prepaid``/``debit`` indicators (``Yes``/``No``/``Unknown``)."""
    prepaid = str(getattr(bin_data, "prepaid", "") or "")
    debit = str(getattr(bin_data, "debit", "") or "")
    if prepaid == "Yes":
        return "prepaid"
    if debit == "Yes":
        return "debit"
    if debit == "No" and prepaid == "No":
        return "credit"
    return "unknown"
