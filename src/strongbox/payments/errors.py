"""How a failed payment reads to the merchant: Stripe's card errors for declines, and the
technical errors (gateway unavailable, outcome unknown, a used-up token)."""

from __future__ import annotations

from typing import Any

from strongbox.connectors.base import (
    ConnectorError,
    InvalidTokenError,
    RetryableError,
    UnknownOutcomeError,
)
from strongbox.core.errors import GatewayError, InvalidRequestError, StrongboxError
from strongbox.payments.models import PaymentAttempt, PaymentIntent
from strongbox.payments.schemas import render_intent

# Stripe error codes for decline codes (``last_payment_error.code``).
DECLINE_TO_CODE = {
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
DECLINE_MESSAGES = {
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


def payment_error(
    pm_id: str | None, decline_code: str, message: str | None, *, bank: bool = False
) -> dict[str, Any]:
    """``last_payment_error`` for a decline, in Stripe's shape. A bank debit's failure (ACH)
    carries its own code (``insufficient_funds``, ``account_closed`` …), not ``card_declined``."""
    if bank:
        return {
            "type": "card_error",
            "code": decline_code,
            "decline_code": decline_code,
            "message": message or "The bank account could not be debited.",
            "payment_method": {"id": pm_id} if pm_id else None,
        }
    code = DECLINE_TO_CODE.get(decline_code, "card_declined")
    err: dict[str, Any] = {
        "type": "card_error",
        "code": code,
        "message": DECLINE_MESSAGES.get(decline_code, message or "Your card was declined."),
        "payment_method": {"id": pm_id} if pm_id else None,
    }
    if code == "card_declined":
        err["decline_code"] = decline_code
    if code in ("incorrect_cvc",):
        err["param"] = "cvc"
    return err


def technical_error(
    attempt: PaymentAttempt, error: ConnectorError, pi: PaymentIntent
) -> StrongboxError:
    """Record a technical error on the attempt; the error its request answers."""
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
