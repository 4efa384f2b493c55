"""The ISO 4217 table and the Stripe amount rules attached to it."""

from __future__ import annotations

import dataclasses

import pytest

from strongbox.core.currencies import (
    STRIPE_MINIMUM_AMOUNTS,
    STRIPE_THREE_DECIMAL,
    STRIPE_ZERO_DECIMAL,
    Currency,
    all_currencies,
    get_currency,
)


def _currency(code: str) -> Currency:
    currency = get_currency(code)
    assert currency is not None, code
    return currency


# ---------------------------------------------------------------------------------------------
# The ISO table
# ---------------------------------------------------------------------------------------------


def test_table_is_large_and_well_formed() -> None:
    currencies = all_currencies()
    assert len(currencies) >= 160
    codes = [c.code for c in currencies]
    numerics = [c.numeric for c in currencies]
    assert len(set(codes)) == len(codes)
    assert len(set(numerics)) == len(numerics), "ISO numeric codes are unique in list one"
    for c in currencies:
        assert len(c.code) == 3
        assert c.code.isascii()
        assert c.code.isalpha()
        assert c.code.isupper()
        assert len(c.numeric) == 3
        assert c.numeric.isdigit()
        assert c.exponent in {0, 2, 3, 4}
        assert c.name.strip() == c.name != ""


@pytest.mark.parametrize(
    ("code", "numeric", "exponent"),
    [
        ("USD", "840", 2),
        ("EUR", "978", 2),
        ("GBP", "826", 2),
        ("ALL", "008", 2),
        ("JPY", "392", 0),
        ("KRW", "410", 0),
        ("ISK", "352", 0),
        ("UGX", "800", 0),
        ("VUV", "548", 0),
        ("CLP", "152", 0),
        ("XOF", "952", 0),
        ("UYI", "940", 0),
        ("BHD", "048", 3),
        ("KWD", "414", 3),
        ("JOD", "400", 3),
        ("OMR", "512", 3),
        ("TND", "788", 3),
        ("IQD", "368", 3),
        ("LYD", "434", 3),
        ("CLF", "990", 4),
        ("UYW", "927", 4),
        ("MGA", "969", 2),
        ("HUF", "348", 2),
        ("XCG", "532", 2),
        ("ZWG", "924", 2),
        ("SLE", "925", 2),
        ("VES", "928", 2),
        ("VED", "926", 2),
        ("MRU", "929", 2),
        ("STN", "930", 2),
    ],
)
def test_iso_numeric_code_and_exponent(code: str, numeric: str, exponent: int) -> None:
    currency = _currency(code)
    assert currency.code == code
    assert currency.numeric == numeric
    assert currency.exponent == exponent


def test_names_come_from_iso() -> None:
    assert _currency("USD").name == "US Dollar"
    assert _currency("JPY").name == "Yen"
    assert _currency("CHF").name == "Swiss Franc"
    assert _currency("TOP").name == "Pa\u2019anga"


@pytest.mark.parametrize("code", ["BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"])
def test_funds_codes_with_minor_units_are_present(code: str) -> None:
    assert get_currency(code) is not None


@pytest.mark.parametrize(
    "code",
    [
        # withdrawn from list one
        "HRK",
        "SLL",
        "ANG",
        "CUC",
        "BGN",
        "ZWL",
        "MRO",
        "STD",
        "VEF",
        "LTL",
        # in list one but without a minor unit ("N.A."), deliberately left out
        "XAU",
        "XAG",
        "XDR",
        "XTS",
        "XXX",
    ],
)
def test_withdrawn_and_unitless_codes_are_absent(code: str) -> None:
    assert get_currency(code) is None


# ---------------------------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["usd", "USD", "Usd", "uSd"])
def test_get_currency_is_case_insensitive(spelling: str) -> None:
    assert get_currency(spelling) == _currency("USD")


@pytest.mark.parametrize(
    "value",
    ["", "US", "USDX", " usd", "usd ", "u s", "123", "\u0131ls", "XYZ", "\uff35\uff33\uff24"],
)
def test_get_currency_returns_none_for_unknown(value: str) -> None:
    # "\u0131ls".upper() == "ILS" and full-width letters are not ASCII: neither may match.
    assert get_currency(value) is None


@pytest.mark.parametrize("value", [None, 840, b"USD", ["USD"]])
def test_get_currency_returns_none_for_non_strings(value: object) -> None:
    assert get_currency(value) is None  # type: ignore[arg-type]


def test_all_currencies_is_sorted_and_a_fresh_list() -> None:
    first = all_currencies()
    assert [c.code for c in first] == sorted(c.code for c in first)
    first.clear()
    assert len(all_currencies()) >= 160


def test_currency_is_immutable() -> None:
    usd = _currency("USD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        usd.exponent = 3  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Stripe rules
# ---------------------------------------------------------------------------------------------


def test_stripe_lists_are_exactly_stripes() -> None:
    zero_decimal = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    zero_decimal |= {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
    three_decimal = {"BHD", "JOD", "KWD", "OMR", "TND"}
    assert zero_decimal == STRIPE_ZERO_DECIMAL
    assert three_decimal == STRIPE_THREE_DECIMAL
    for code in STRIPE_ZERO_DECIMAL | STRIPE_THREE_DECIMAL:
        assert get_currency(code) is not None, code


def test_zero_and_three_decimal_flags() -> None:
    for currency in all_currencies():
        assert currency.zero_decimal == (currency.code in STRIPE_ZERO_DECIMAL)
        assert currency.three_decimal == (currency.code in STRIPE_THREE_DECIMAL)
        assert not (currency.zero_decimal and currency.three_decimal)
    assert _currency("JPY").zero_decimal
    assert not _currency("USD").zero_decimal
    assert _currency("KWD").three_decimal
    # ISO says three decimals, but Stripe's list does not include them.
    assert not _currency("IQD").three_decimal
    assert not _currency("LYD").three_decimal


@pytest.mark.parametrize(
    ("code", "amount_exponent", "step"),
    [
        ("USD", 2, 1),
        ("JPY", 0, 1),
        ("MGA", 0, 1),  # ISO 2, Stripe zero-decimal
        ("UGX", 0, 1),
        ("ISK", 2, 100),  # ISO 0, Stripe keeps two decimals and whole krónur
        ("BHD", 3, 10),
        ("KWD", 3, 10),
        ("IQD", 3, 1),  # not a Stripe currency: ISO's exponent, no last-digit rule
        ("CLF", 4, 1),
        ("UYI", 0, 1),
    ],
)
def test_amount_exponent_and_step(code: str, amount_exponent: int, step: int) -> None:
    currency = _currency(code)
    assert currency.amount_exponent == amount_exponent
    assert currency.amount_step == step


def test_amount_exponent_is_iso_outside_stripe_special_cases() -> None:
    special = STRIPE_ZERO_DECIMAL | STRIPE_THREE_DECIMAL | {"ISK"}
    for currency in all_currencies():
        if currency.code not in special:
            assert currency.amount_exponent == currency.exponent, currency.code


@pytest.mark.parametrize(
    ("code", "minimum"),
    [
        ("USD", 50),
        ("AED", 200),
        ("AUD", 50),
        ("BRL", 50),
        ("CAD", 50),
        ("CHF", 50),
        ("CZK", 1500),
        ("DKK", 250),
        ("EUR", 50),
        ("GBP", 30),
        ("HKD", 400),
        ("HUF", 17500),
        ("INR", 50),
        ("JPY", 50),
        ("MXN", 1000),
        ("MYR", 200),
        ("NOK", 300),
        ("NZD", 50),
        ("PLN", 200),
        ("RON", 200),
        ("SEK", 300),
        ("SGD", 50),
        ("THB", 1000),
        # not a settlement currency with a published minimum: the smallest valid amount
        ("NGN", 1),
        ("KRW", 1),
        ("KWD", 10),
        ("BHD", 10),
        ("ISK", 100),
    ],
)
def test_minimum_amount(code: str, minimum: int) -> None:
    assert _currency(code).minimum_amount == minimum


def test_minimum_table_matches_currency_table() -> None:
    assert STRIPE_MINIMUM_AMOUNTS["BGN"] == 100  # Stripe's figure, kept for reference
    for code, minimum in STRIPE_MINIMUM_AMOUNTS.items():
        currency = get_currency(code)
        if code == "BGN":  # withdrawn by ISO on 2026-01-01 (Bulgaria adopted the euro)
            assert currency is None
            continue
        assert currency is not None, code
        assert currency.minimum_amount == minimum
        assert minimum % currency.amount_step == 0


def test_every_minimum_is_a_valid_amount() -> None:
    for currency in all_currencies():
        assert currency.minimum_amount >= 1
        assert currency.minimum_amount % currency.amount_step == 0
