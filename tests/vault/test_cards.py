"""Card number rules: IIN brand ranges, Luhn, lengths, CVC lengths, expiry, BIN table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.core.errors import CardError
from strongbox.core.luhn import luhn_valid
from strongbox.core.secret import Secret
from strongbox.vault.cards import bin_info, brand_of, display_brand, validate_card

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prefix", "brand"),
    [
        ("4", "visa"),
        ("51", "mastercard"),
        ("55", "mastercard"),
        ("2221", "mastercard"),
        ("2720", "mastercard"),
        ("34", "amex"),
        ("37", "amex"),
        ("6011", "discover"),
        ("644", "discover"),
        ("65", "discover"),
        ("622126", "discover"),
        ("622925", "discover"),
        ("62", "unionpay"),
        ("622125", "unionpay"),
        ("81", "unionpay"),
        ("3528", "jcb"),
        ("3589", "jcb"),
        ("300", "diners"),
        ("36", "diners"),
        ("38", "diners"),
        ("50", "mastercard"),  # Maestro
        ("6759", "mastercard"),  # Maestro
        ("2220", "unknown"),
        ("2721", "unknown"),
        ("3527", "unknown"),
        ("1", "unknown"),
    ],
)
def test_brand_from_iin_ranges(prefix: str, brand: str) -> None:
    assert brand_of(prefix + "0" * (16 - len(prefix))).brand == brand


def test_display_brands_use_stripe_names() -> None:
    assert display_brand("amex") == "american_express"
    assert display_brand("diners") == "diners_club"
    assert display_brand("unionpay") == "union_pay"
    assert display_brand("visa") == "visa"
    assert display_brand("unknown") == "other"


def _with_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("no check digit")


@given(st.text("0123456789", min_size=14, max_size=14))
def test_luhn_valid_visa_numbers_pass_and_one_digit_changes_fail(tail: str) -> None:
    pan = _with_check_digit("4" + tail)
    card = validate_card(Secret(pan), 12, 2030, Secret("123"), NOW)
    assert card.last4 == pan[-4:]
    assert card.brand.brand == "visa"
    i = len(pan) // 2
    changed = pan[:i] + str((int(pan[i]) + 1) % 10) + pan[i + 1 :]
    with pytest.raises(CardError) as exc:
        validate_card(Secret(changed), 12, 2030, None, NOW)
    assert exc.value.code == "incorrect_number"


@pytest.mark.parametrize(
    ("pan", "ok"),
    [
        ("4242424242424242", True),
        ("4222222222222", True),  # 13-digit Visa
        ("42424242424242", False),  # 14 digits is no Visa length
        ("378282246310005", True),
        ("3782822463100050", False),
        ("6200000000000005", True),
        ("6200000000000006", True),  # UnionPay: no Luhn requirement
        ("5555555555554444", True),
        ("555555555555444", False),
    ],
)
def test_lengths_per_brand(pan: str, ok: bool) -> None:
    if ok:
        validate_card(Secret(pan), 1, 2027, None, NOW)
    else:
        with pytest.raises(CardError):
            validate_card(Secret(pan), 1, 2027, None, NOW)


def test_errors_never_contain_the_number() -> None:
    with pytest.raises(CardError) as exc:
        validate_card(Secret("4242424242424241"), 1, 2027, None, NOW)
    assert "4242" not in exc.value.message
    assert exc.value.status == 402
    assert exc.value.param == "card[number]"


def test_expiry_rules() -> None:
    validate_card(Secret("4242424242424242"), 12, 2026, None, NOW)  # this month is fine
    for month, year, code in [
        (11, 2026, "invalid_expiry_month"),
        (12, 2025, "invalid_expiry_year"),
        (12, 2077, "invalid_expiry_year"),
        (0, 2030, "invalid_expiry_month"),
    ]:
        with pytest.raises(CardError) as exc:
            validate_card(Secret("4242424242424242"), month, year, None, NOW)
        assert exc.value.code == code
    assert validate_card(Secret("4242424242424242"), 5, 30, None, NOW).exp_year == 2030


def test_bin_table_longest_prefix() -> None:
    assert bin_info("4000002760003184") == ("DE", "credit")
    assert bin_info("4000000000000002") == ("US", "credit")
    assert bin_info("4000056655665556") == ("US", "debit")
    assert bin_info("4111111111111111") == (None, "unknown")
