"""Stripe's test payment methods (``pm_card_visa`` …) and the public test PANs behind them.

These PANs are published by Stripe for testing; they are not cardholder data. Using a test
method materializes a new ``pm_…`` object, as Stripe does in test mode.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TestCard:
    __test__ = False  # not a pytest class

    pan: str
    brand: str
    funding: str
    country: str

    @property
    def last4(self) -> str:
        return self.pan[-4:]

    @property
    def fingerprint(self) -> str:
        # Deterministic for public test PANs only; real cards get a keyed HMAC in the vault.
        return hashlib.sha256(b"strongbox-test-card:" + self.pan.encode()).hexdigest()[:16]


TEST_PAYMENT_METHODS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("4242424242424242", "visa", "credit", "US"),
    "pm_card_visa_debit": TestCard("4000056655665556", "visa", "debit", "US"),
    "pm_card_mastercard": TestCard("5555555555554444", "mastercard", "credit", "US"),
    "pm_card_mastercard_debit": TestCard("5200828282828210", "mastercard", "debit", "US"),
    "pm_card_amex": TestCard("378282246310005", "amex", "credit", "US"),
    "pm_card_discover": TestCard("6011111111111117", "discover", "credit", "US"),
    "pm_card_diners": TestCard("3056930009020004", "diners", "credit", "US"),
    "pm_card_jcb": TestCard("3566002020360505", "jcb", "credit", "JP"),
    "pm_card_unionpay": TestCard("6200000000000005", "unionpay", "credit", "CN"),
    "pm_card_chargeDeclined": TestCard("4000000000000002", "visa", "credit", "US"),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard("4000000000009995", "visa", "credit", "US"),
    "pm_card_chargeDeclinedLostCard": TestCard("4000000000009987", "visa", "credit", "US"),
    "pm_card_chargeDeclinedStolenCard": TestCard("4000000000009979", "visa", "credit", "US"),
    "pm_card_chargeDeclinedExpiredCard": TestCard("4000000000000069", "visa", "credit", "US"),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard("4000000000000127", "visa", "credit", "US"),
    "pm_card_chargeDeclinedProcessingError": TestCard("4000000000000119", "visa", "credit", "US"),
    "pm_card_chargeCustomerFail": TestCard("4000000000000341", "visa", "credit", "US"),
    "pm_card_authenticationRequired": TestCard("4000002760003184", "visa", "credit", "US"),
    "pm_card_authenticationRequiredOnSetup": TestCard("4000002500003155", "visa", "credit", "US"),
    "pm_card_threeDSecure2Required": TestCard("4000002760003184", "visa", "credit", "US"),
}

# Stripe's legacy test tokens are accepted the same way.
for _tok, _pm in {
    "tok_visa": "pm_card_visa",
    "tok_mastercard": "pm_card_mastercard",
    "tok_amex": "pm_card_amex",
    "tok_chargeDeclined": "pm_card_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds": "pm_card_chargeDeclinedInsufficientFunds",
}.items():
    TEST_PAYMENT_METHODS[_tok] = TEST_PAYMENT_METHODS[_pm]


def lookup_test_card(name: str) -> TestCard | None:
    return TEST_PAYMENT_METHODS.get(name)
