from __future__ import annotations

from datetime import date

import pytest

from strongbox.connectors.simulator.cards import (
    DECLINE_CODES,
    TEST_CARDS,
    CardOutcome,
    brand_of,
    card_behaviour,
    is_expired,
    luhn_valid,
)

TODAY = date(2026, 3, 15)


def behaviour(number: str, exp_month: int = 12, exp_year: int = 2030) -> tuple[str, str | None]:
    b = card_behaviour(number, exp_month, exp_year, TODAY)
    return b.outcome, b.decline_code


@pytest.mark.parametrize("number", list(TEST_CARDS))
def test_every_test_card_passes_luhn(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4242424242424241", False), ("42424242424242a2", False), ("", False), ("0", True)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("number", "brand", "funding"),
    [
        ("4242424242424242", "visa", "credit"),
        ("4000056655665556", "visa", "debit"),
        ("5555555555554444", "mastercard", "credit"),
        ("2223003122003222", "mastercard", "credit"),
        ("5200828282828210", "mastercard", "debit"),
        ("378282246310005", "amex", "credit"),
        ("371449635398431", "amex", "credit"),
        ("6011111111111117", "discover", "credit"),
        ("3056930009020004", "diners", "credit"),
        ("36227206271667", "diners", "credit"),
        ("3566002020360505", "jcb", "credit"),
        ("6200000000000005", "unionpay", "credit"),
    ],
)
def test_success_cards(number: str, brand: str, funding: str) -> None:
    b = card_behaviour(number, 12, 2030, TODAY)
    assert b.outcome is CardOutcome.SUCCEED
    assert (b.brand, b.funding) == (brand, funding)
    assert brand_of(number) == brand


@pytest.mark.parametrize(
    ("number", "decline_code", "code"),
    [
        ("4000000000000002", "generic_decline", "card_declined"),
        ("4000000000009995", "insufficient_funds", "card_declined"),
        ("4000000000009987", "lost_card", "card_declined"),
        ("4000000000009979", "stolen_card", "card_declined"),
        ("4000000000000069", "expired_card", "expired_card"),
        ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
        ("4000000000000119", "processing_error", "processing_error"),
        ("4000000000000341", "generic_decline", "card_declined"),
    ],
)
def test_decline_cards(number: str, decline_code: str, code: str) -> None:
    b = card_behaviour(number, 12, 2030, TODAY)
    assert b.declines
    assert (b.decline_code, b.code) == (decline_code, code)
    assert b.message
    assert decline_code in DECLINE_CODES


@pytest.mark.parametrize("number", ["4000002760003184", "4000002500003155"])
def test_three_ds_cards(number: str) -> None:
    assert behaviour(number) == (CardOutcome.THREE_DS, None)


def test_other_luhn_valid_numbers_succeed() -> None:
    assert behaviour("4111111111111111") == (CardOutcome.SUCCEED, None)
    assert card_behaviour("5105105105105100", 1, 2030, TODAY).brand == "mastercard"


@pytest.mark.parametrize("number", ["4242424242424241", "4242", "4242-4242-4242-4242", "x" * 16])
def test_bad_numbers_decline_incorrect_number(number: str) -> None:
    b = card_behaviour(number, 12, 2030, TODAY)
    assert (b.outcome, b.decline_code, b.code) == (
        CardOutcome.DECLINE,
        "incorrect_number",
        "incorrect_number",
    )


def test_expiry() -> None:
    assert not is_expired(3, 2026, TODAY)  # valid through the end of the month
    assert is_expired(2, 2026, TODAY)
    assert is_expired(12, 25, TODAY)  # two-digit year
    assert not is_expired(1, 27, TODAY)
    # A past expiry declines even a card that would succeed.
    assert behaviour("4242424242424242", 2, 2026) == (CardOutcome.DECLINE, "expired_card")
    assert behaviour("4242424242424242", 13, 2030) == (CardOutcome.DECLINE, "invalid_expiry_month")


def test_behaviour_holds_no_pan() -> None:
    for number in [*TEST_CARDS, "4111111111111111", "4242424242424241"]:
        b = card_behaviour(number, 12, 2030, TODAY)
        assert number not in repr(b)
        assert number[-8:] not in repr(b)
