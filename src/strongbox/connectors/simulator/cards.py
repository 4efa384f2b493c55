"""Stripe test card numbers and what the simulated card network does with them.

Behaviour is decided from the PAN (and the expiry date) only. Any future expiry and any CVC
work, as on Stripe. Order of checks, first match wins:

1. a PAN that is not 12-19 digits or fails the Luhn check declines ``incorrect_number``;
2. an expiry month outside 1-12 declines ``invalid_expiry_month``;
3. an expiry in the past (the card is valid through the end of its expiry month) declines
   ``expired_card``;
4. a known Stripe test PAN behaves as documented by Stripe (see ``TEST_CARDS``);
5. any other Luhn-valid PAN succeeds.

Nothing in this module puts a PAN into a message, a repr or a log line: results carry at most
the last four digits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from strongbox.core.luhn import luhn_valid


class CardOutcome(enum.StrEnum):
    SUCCEED = "succeed"  # authorization approved
    DECLINE = "decline"  # authorization declined with a decline code
    THREE_DS = "three_ds"  # customer authentication (3DS challenge) required first


@dataclass(frozen=True, slots=True)
class CardBehaviour:
    """What the simulated network does with one card. Holds no PAN."""

    outcome: CardOutcome
    brand: str
    funding: str = "credit"
    decline_code: str | None = None  # Stripe ``decline_code`` when the outcome is DECLINE
    code: str | None = None  # Stripe error ``code`` (card_declined, expired_card, ...)
    message: str | None = None  # safe, customer-facing text

    @property
    def declines(self) -> bool:
        return self.outcome is CardOutcome.DECLINE


_DECLINED = "Your card was declined."


def _succeed(brand: str, funding: str = "credit") -> CardBehaviour:
    return CardBehaviour(CardOutcome.SUCCEED, brand, funding)


def _decline(
    brand: str, decline_code: str, code: str = "card_declined", message: str = _DECLINED
) -> CardBehaviour:
    return CardBehaviour(CardOutcome.DECLINE, brand, "credit", decline_code, code, message)


def _three_ds(brand: str) -> CardBehaviour:
    return CardBehaviour(
        CardOutcome.THREE_DS, brand, "credit", message="Customer authentication is required."
    )


#: Stripe test PANs with a documented behaviour. Anything else that passes Luhn succeeds.
TEST_CARDS: dict[str, CardBehaviour] = {
    # Successful payments, one per brand.
    "4242424242424242": _succeed("visa"),
    "4000056655665556": _succeed("visa", "debit"),
    "5555555555554444": _succeed("mastercard"),
    "2223003122003222": _succeed("mastercard"),
    "5200828282828210": _succeed("mastercard", "debit"),
    "378282246310005": _succeed("amex"),
    "371449635398431": _succeed("amex"),
    "6011111111111117": _succeed("discover"),
    "3056930009020004": _succeed("diners"),
    "36227206271667": _succeed("diners"),
    "3566002020360505": _succeed("jcb"),
    "6200000000000005": _succeed("unionpay"),
    # Declines.
    "4000000000000002": _decline("visa", "generic_decline"),
    "4000000000009995": _decline(
        "visa", "insufficient_funds", message="Your card has insufficient funds."
    ),
    # Lost and stolen cards are reported to the customer as a plain decline, as Stripe does.
    "4000000000009987": _decline("visa", "lost_card"),
    "4000000000009979": _decline("visa", "stolen_card"),
    "4000000000000069": _decline(
        "visa", "expired_card", code="expired_card", message="Your card has expired."
    ),
    "4000000000000127": _decline(
        "visa",
        "incorrect_cvc",
        code="incorrect_cvc",
        message="Your card's security code is incorrect.",
    ),
    "4000000000000119": _decline(
        "visa",
        "processing_error",
        code="processing_error",
        message="An error occurred while processing your card. Try again in a little bit.",
    ),
    # Attaching to a customer succeeds, but every authorization declines.
    "4000000000000341": _decline("visa", "generic_decline"),
    # 3DS required.
    "4000002760003184": _three_ds("visa"),
    "4000002500003155": _three_ds("visa"),
}

#: Decline codes the simulator can produce, for tests and documentation.
DECLINE_CODES: frozenset[str] = frozenset(
    {b.decline_code for b in TEST_CARDS.values() if b.decline_code}
    | {"incorrect_number", "invalid_expiry_month", "payment_intent_authentication_failure"}
)


def brand_of(number: str) -> str:
    """Best-effort card brand from the IIN prefix (``unknown`` if none matches)."""
    if number.startswith("4"):
        return "visa"
    two, four = number[:2], number[:4]
    if "51" <= two <= "55" or (len(four) == 4 and "2221" <= four <= "2720"):
        return "mastercard"
    if two in ("34", "37"):
        return "amex"
    if four == "6011" or two == "65" or "644" <= number[:3] <= "649":
        return "discover"
    if two in ("36", "38", "39") or "300" <= number[:3] <= "305":
        return "diners"
    if len(four) == 4 and "3528" <= four <= "3589":
        return "jcb"
    if two == "62":
        return "unionpay"
    return "unknown"


def is_expired(exp_month: int, exp_year: int, today: date) -> bool:
    """A card is valid through the last day of its expiry month. Two-digit years are 20YY."""
    year = exp_year + 2000 if 0 <= exp_year < 100 else exp_year
    return (year, exp_month) < (today.year, today.month)


def card_behaviour(number: str, exp_month: int, exp_year: int, today: date) -> CardBehaviour:
    """What the simulated network does with this card (see the module docstring for order)."""
    if not 12 <= len(number) <= 19 or not luhn_valid(number):
        return CardBehaviour(
            CardOutcome.DECLINE,
            "unknown",
            decline_code="incorrect_number",
            code="incorrect_number",
            message="Your card number is incorrect.",
        )
    brand = brand_of(number)
    if not 1 <= exp_month <= 12:
        return _decline(
            brand,
            "invalid_expiry_month",
            code="invalid_expiry_month",
            message="Your card's expiration month is invalid.",
        )
    if is_expired(exp_month, exp_year, today):
        return _decline(
            brand, "expired_card", code="expired_card", message="Your card has expired."
        )
    known = TEST_CARDS.get(number)
    if known is not None:
        return known
    return _succeed(brand)
