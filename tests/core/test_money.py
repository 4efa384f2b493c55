"""Request validation of currencies and amounts, and the Money value type."""

from __future__ import annotations

import dataclasses
import enum
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from strongbox.core.currencies import Currency, all_currencies, get_currency
from strongbox.core.errors import InvalidRequestError
from strongbox.core.money import (
    MAX_AMOUNT,
    CurrencyMismatchError,
    Money,
    format_amount,
    parse_currency,
    validate_amount,
    validate_partial_amount,
)


def _currency(code: str) -> Currency:
    currency = get_currency(code)
    assert currency is not None, code
    return currency


USD = _currency("USD")
JPY = _currency("JPY")
BHD = _currency("BHD")
KWD = _currency("KWD")
ISK = _currency("ISK")
GBP = _currency("GBP")
HUF = _currency("HUF")
NGN = _currency("NGN")

PAN = "4242424242424242"

# ---------------------------------------------------------------------------------------------
# parse_currency
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["usd", "USD", "Usd"])
def test_parse_currency_accepts_any_case(value: str) -> None:
    assert parse_currency(value) == USD


@pytest.mark.parametrize("value", [None, 840, 8.4, True, b"usd", ["usd"], {"code": "usd"}])
def test_parse_currency_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_currency(value)
    assert info.value.code == "parameter_invalid_string"
    assert info.value.param == "currency"
    assert info.value.status == 400


def test_parse_currency_rejects_empty_string() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_currency("", param="refund[currency]")
    assert info.value.code == "parameter_invalid_empty"
    assert info.value.param == "refund[currency]"
    assert "refund[currency]" in info.value.message


def test_parse_currency_unknown_code() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_currency("XyZ", param="price_data[currency]")
    err = info.value
    assert err.code == "invalid_currency"
    assert err.param == "price_data[currency]"
    assert err.message.startswith("Invalid currency: xyz. ")
    # the supported list is spelled out, lower case, like Stripe's
    assert ", usd, " in err.message
    assert "jpy" in err.message
    assert err.to_dict() == {
        "error": {
            "type": "invalid_request_error",
            "message": err.message,
            "code": "invalid_currency",
            "param": "price_data[currency]",
        }
    }


@pytest.mark.parametrize("value", [PAN, "usd; drop table", "x" * 500, "\u0131ls"])
def test_parse_currency_does_not_echo_arbitrary_input(value: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_currency(value)
    assert info.value.code == "invalid_currency"
    assert value not in info.value.message
    assert value.lower() not in info.value.message


# ---------------------------------------------------------------------------------------------
# validate_amount
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (50, USD),
        (1099, USD),
        (MAX_AMOUNT, USD),
        (50, JPY),
        (MAX_AMOUNT, JPY),
        (30, GBP),
        (17500, HUF),
        (1, NGN),
        (10, KWD),
        (1230, BHD),
        (99_999_990, BHD),
        (100, ISK),
        (123_400, ISK),
    ],
)
def test_validate_amount_accepts(amount: int, currency: Currency) -> None:
    result = validate_amount(amount, currency)
    assert result == amount
    assert type(result) is int


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        (49, USD, "Amount must be at least $0.50 usd"),
        (0, USD, "Amount must be at least $0.50 usd"),
        (29, GBP, "Amount must be at least £0.30 gbp"),
        (49, JPY, "Amount must be at least ¥50 jpy"),
        (17499, HUF, "Amount must be at least 175.00 huf"),
        (0, NGN, "Amount must be at least 0.01 ngn"),
        (9, KWD, "Amount must be at least 0.010 kwd"),
        (99, ISK, "Amount must be at least 1.00 isk"),
    ],
)
def test_validate_amount_too_small(amount: int, currency: Currency, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_amount(amount, currency)
    assert info.value.code == "amount_too_small"
    assert info.value.param == "amount"
    assert info.value.message == message


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        (USD, "Amount must be no more than $999,999.99 usd"),
        (JPY, "Amount must be no more than ¥99,999,999 jpy"),
        (BHD, "Amount must be no more than 99,999.990 bhd"),
        (ISK, "Amount must be no more than 999,999.00 isk"),
    ],
)
def test_validate_amount_too_large(currency: Currency, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_amount(MAX_AMOUNT + 1, currency)
    assert info.value.code == "amount_too_large"
    assert info.value.param == "amount"
    assert info.value.message == message


@pytest.mark.parametrize("amount", [1235, 1001, 99_999_999, 15])
def test_validate_amount_three_decimal_last_digit_must_be_zero(amount: int) -> None:
    for currency in (BHD, KWD, _currency("JOD"), _currency("OMR"), _currency("TND")):
        with pytest.raises(InvalidRequestError) as info:
            validate_amount(amount, currency)
        assert info.value.code == "invalid_charge_amount"
        assert info.value.param == "amount"
        assert "end in 0" in info.value.message


def test_validate_amount_isk_must_be_whole_kronur() -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_amount(150, ISK)
    assert info.value.code == "invalid_charge_amount_no_decimal_compatible"
    assert info.value.param == "amount"
    assert "divisible by 100" in info.value.message


def test_other_iso_three_decimal_currencies_have_no_last_digit_rule() -> None:
    # IQD and LYD have three ISO decimals but are not on Stripe's three-decimal list.
    assert validate_amount(1235, _currency("IQD")) == 1235
    assert validate_amount(7, _currency("LYD")) == 7


@pytest.mark.parametrize(
    "amount", [True, False, 10.0, 1099.5, "1099", Decimal(1099), None, [1099], PAN]
)
def test_validate_amount_rejects_non_integers(amount: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_amount(amount, USD, param="amount_to_capture")
    assert info.value.code == "parameter_invalid_integer"
    assert info.value.param == "amount_to_capture"
    assert PAN not in info.value.message


@pytest.mark.parametrize("amount", [-1, -50, -(10**20)])
def test_validate_amount_rejects_negative(amount: int) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_amount(amount, USD, allow_zero=True)
    assert info.value.code == "parameter_invalid_integer"
    assert info.value.param == "amount"


def test_allow_zero_permits_only_zero_below_the_minimum() -> None:
    assert validate_amount(0, USD, allow_zero=True) == 0
    assert validate_amount(0, BHD, allow_zero=True) == 0
    with pytest.raises(InvalidRequestError) as info:
        validate_amount(1, USD, allow_zero=True)
    assert info.value.code == "amount_too_small"


def test_validate_amount_returns_a_plain_int_for_int_subclasses() -> None:
    class Cents(enum.IntEnum):
        ONE_DOLLAR = 100

    result = validate_amount(Cents.ONE_DOLLAR, USD)
    assert result == 100
    assert type(result) is int


# ---------------------------------------------------------------------------------------------
# validate_partial_amount
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(1, USD), (49, USD), (1, JPY), (MAX_AMOUNT, USD), (10, BHD), (100, ISK), (1, NGN)],
)
def test_validate_partial_amount_accepts_below_currency_minimum(
    amount: int, currency: Currency
) -> None:
    assert validate_partial_amount(amount, currency) == amount


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (0, USD, "amount_too_small"),
        (-1, USD, "parameter_invalid_integer"),
        (1.0, USD, "parameter_invalid_integer"),
        (True, USD, "parameter_invalid_integer"),
        ("5", USD, "parameter_invalid_integer"),
        (MAX_AMOUNT + 1, USD, "amount_too_large"),
        (5, BHD, "amount_too_small"),
        (15, BHD, "invalid_charge_amount"),
        (150, ISK, "invalid_charge_amount_no_decimal_compatible"),
    ],
)
def test_validate_partial_amount_rejects(amount: object, currency: Currency, code: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_partial_amount(amount, currency, "refund[amount]")
    assert info.value.code == code
    assert info.value.param == "refund[amount]"


def test_format_amount() -> None:
    assert format_amount(50, USD) == "$0.50 usd"
    assert format_amount(123_456_789, USD) == "$1,234,567.89 usd"
    assert format_amount(-50, USD) == "-$0.50 usd"
    assert format_amount(50, JPY) == "¥50 jpy"
    assert format_amount(10, KWD) == "0.010 kwd"


# ---------------------------------------------------------------------------------------------
# Money: construction and display
# ---------------------------------------------------------------------------------------------


def test_money_normalises_currency_case() -> None:
    money = Money(1050, "usd")
    assert money.currency == "USD"
    assert money == Money(1050, "USD")
    assert hash(money) == hash(Money(1050, "USD"))
    assert money.currency_info == USD


@pytest.mark.parametrize("amount", [10.0, 10.5, True, Decimal(10), "10", None])
def test_money_rejects_non_int_amounts(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "USD")  # type: ignore[arg-type]


def test_money_rejects_unknown_or_non_string_currency() -> None:
    with pytest.raises(ValueError, match="Unknown currency"):
        Money(100, "XYZ")
    with pytest.raises(ValueError, match="Unknown currency"):
        Money(100, "BGN")
    with pytest.raises(TypeError):
        Money(100, USD)  # type: ignore[arg-type]


def test_money_is_immutable() -> None:
    money = Money(100, "USD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount = 200  # type: ignore[misc]


def test_money_amount_int_subclass_is_normalised() -> None:
    class Cents(enum.IntEnum):
        TEN = 10

    money = Money(Cents.TEN, "USD")
    assert type(money.amount) is int
    assert money == Money(10, "USD")


@pytest.mark.parametrize(
    ("money", "text", "decimal"),
    [
        (Money(1000, "USD"), "10.00 USD", Decimal("10.00")),
        (Money(5, "USD"), "0.05 USD", Decimal("0.05")),
        (Money(-5, "EUR"), "-0.05 EUR", Decimal("-0.05")),
        (Money(0, "USD"), "0.00 USD", Decimal("0.00")),
        (Money(1000, "JPY"), "1000 JPY", Decimal(1000)),
        (Money(1234, "BHD"), "1.234 BHD", Decimal("1.234")),
        (Money(500, "MGA"), "500 MGA", Decimal(500)),
        (Money(10000, "ISK"), "100.00 ISK", Decimal("100.00")),
        (Money(12345, "CLF"), "1.2345 CLF", Decimal("1.2345")),
        (Money(10**30 + 1, "USD"), "10000000000000000000000000000.01 USD", None),
    ],
)
def test_format_and_to_decimal(money: Money, text: str, decimal: Decimal | None) -> None:
    assert money.format() == text
    assert str(money) == text
    if decimal is not None:
        assert money.to_decimal() == decimal
        assert str(money.to_decimal()) == str(decimal)


# ---------------------------------------------------------------------------------------------
# Money.from_decimal
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("10.50", "USD", Money(1050, "USD")),
        ("10.5", "USD", Money(1050, "USD")),
        ("10.500000", "USD", Money(1050, "USD")),
        ("10", "USD", Money(1000, "USD")),
        ("-0.01", "usd", Money(-1, "USD")),
        ("1E3", "JPY", Money(1000, "JPY")),
        ("1.000", "JPY", Money(1, "JPY")),
        ("1.23", "BHD", Money(1230, "BHD")),
        ("0", "USD", Money(0, "USD")),
        ("-0", "USD", Money(0, "USD")),
        ("0E-999999999", "USD", Money(0, "USD")),
        (Decimal("0.30"), "GBP", Money(30, "GBP")),
        (Decimal("1.2345"), "CLF", Money(12345, "CLF")),
        (" 2.50 ", "EUR", Money(250, "EUR")),
    ],
)
def test_from_decimal(value: Decimal | str, currency: str, expected: Money) -> None:
    assert Money.from_decimal(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("1.234", "USD"),
        ("0.001", "USD"),
        ("1.5", "JPY"),
        ("1.2345", "BHD"),
        ("1E-999999999", "USD"),  # must fail fast, not build a huge power of ten
        ("1E999999999", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("-inf", "USD"),
        ("ten", "USD"),
        ("", "USD"),
        ("1,000.00", "USD"),
        ("10.00", "XYZ"),
    ],
)
def test_from_decimal_rejects(value: str, currency: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several distinct messages
        Money.from_decimal(value, currency)


@pytest.mark.parametrize("value", [10.5, 10.0, 10, True, None])
def test_from_decimal_refuses_floats_and_other_types(value: object) -> None:
    with pytest.raises(TypeError):
        Money.from_decimal(value, "USD")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Money: arithmetic and comparison
# ---------------------------------------------------------------------------------------------


def test_arithmetic_examples() -> None:
    a, b = Money(1050, "USD"), Money(250, "USD")
    assert a + b == Money(1300, "USD")
    assert a - b == Money(800, "USD")
    assert b - a == Money(-800, "USD")
    assert -a == Money(-1050, "USD")
    assert (a - a).is_zero
    assert not a.is_zero
    assert Money.zero("jpy") == Money(0, "JPY")
    assert sum([a, b, b], Money.zero("USD")) == Money(1550, "USD")


def test_comparisons_within_a_currency() -> None:
    small, large = Money(100, "EUR"), Money(200, "EUR")
    assert small < large
    assert small <= large
    assert small <= Money(100, "EUR")
    assert large > small
    assert large >= small
    assert not small > large
    assert max(large, small) is large


def test_mixing_currencies_raises() -> None:
    usd, eur = Money(100, "USD"), Money(100, "EUR")
    with pytest.raises(CurrencyMismatchError) as info:
        usd + eur
    assert isinstance(info.value, ValueError)
    assert (info.value.left, info.value.right) == ("USD", "EUR")
    with pytest.raises(CurrencyMismatchError):
        usd - eur
    with pytest.raises(CurrencyMismatchError):
        usd < eur  # noqa: B015
    # Equality never raises: different currencies are simply not equal.
    assert usd != eur


@pytest.mark.parametrize("other", [1, 1.0, Decimal(1), "1"])
def test_arithmetic_with_non_money_is_a_type_error(other: object) -> None:
    money = Money(100, "USD")
    with pytest.raises(TypeError):
        money + other  # type: ignore[operator]
    with pytest.raises(TypeError):
        other + money  # type: ignore[operator]
    with pytest.raises(TypeError):
        money - other  # type: ignore[operator]
    with pytest.raises(TypeError):
        money < other  # type: ignore[operator]  # noqa: B015
    assert money != other


# ---------------------------------------------------------------------------------------------
# Money.allocate
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "ratios", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (5, [1, 1, 1], [2, 2, 1]),
        (1001, [70, 30], [701, 300]),
        (100, [1, 0, 1], [50, 0, 50]),
        (1, [1, 1], [1, 0]),
        (0, [1, 2, 3], [0, 0, 0]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (10, [1, 2], [3, 7]),  # exact shares 3.33 and 6.67: the larger remainder gets the unit
        (7, [5], [7]),
    ],
)
def test_allocate_examples(amount: int, ratios: list[int], expected: list[int]) -> None:
    parts = Money(amount, "USD").allocate(ratios)
    assert [p.amount for p in parts] == expected
    assert all(p.currency == "USD" for p in parts)


@pytest.mark.parametrize(
    ("ratios", "error"),
    [([], ValueError), ([0, 0], ValueError), ([1, -1, 2], ValueError), ([1.5, 1], TypeError)],
)
def test_allocate_rejects_bad_ratios(ratios: list[int], error: type[Exception]) -> None:
    with pytest.raises(error):
        Money(100, "USD").allocate(ratios)


def test_allocate_rejects_bool_ratios() -> None:
    with pytest.raises(TypeError):
        Money(100, "USD").allocate([True, False])


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

CODES = sorted(c.code for c in all_currencies())
codes = st.sampled_from(CODES)
amounts = st.integers(min_value=-(10**18), max_value=10**18)


@st.composite
def money_triples(draw: st.DrawFn) -> tuple[Money, Money, Money]:
    code = draw(codes)
    return (Money(draw(amounts), code), Money(draw(amounts), code), Money(draw(amounts), code))


@given(money_triples())
def test_addition_is_commutative_and_associative(triple: tuple[Money, Money, Money]) -> None:
    a, b, c = triple
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert (a + b).currency == a.currency


@given(money_triples())
def test_subtraction_inverts_addition(triple: tuple[Money, Money, Money]) -> None:
    a, b, _ = triple
    assert a - b + b == a
    assert a + b - b == a
    assert a - a == Money.zero(a.currency)
    negated = -a
    assert negated.amount == -a.amount
    assert -negated == a
    assert (a + -a).is_zero
    assert a - b == -(b - a)


@given(money_triples())
def test_ordering_follows_amounts(triple: tuple[Money, Money, Money]) -> None:
    a, b, _ = triple
    assert (a < b) == (a.amount < b.amount)
    assert (a <= b) == (a.amount <= b.amount)
    assert (a > b) == (a.amount > b.amount)
    assert (a >= b) == (a.amount >= b.amount)
    assert (a == b) == (a.amount == b.amount)


@given(codes, codes, amounts, amounts)
def test_mixing_currencies_always_raises(c1: str, c2: str, x: int, y: int) -> None:
    assume(c1 != c2)
    a, b = Money(x, c1), Money(y, c2)
    assert a != b
    with pytest.raises(CurrencyMismatchError):
        a + b
    with pytest.raises(CurrencyMismatchError):
        a - b
    with pytest.raises(CurrencyMismatchError):
        a < b  # noqa: B015
    with pytest.raises(CurrencyMismatchError):
        a <= b  # noqa: B015
    with pytest.raises(CurrencyMismatchError):
        a > b  # noqa: B015
    with pytest.raises(CurrencyMismatchError):
        a >= b  # noqa: B015


@given(codes, amounts, st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20))
def test_allocate_sums_exactly_and_stays_within_one_unit_of_the_exact_share(
    code: str, amount: int, ratios: list[int]
) -> None:
    assume(sum(ratios) > 0)
    money = Money(amount, code)
    parts = money.allocate(ratios)
    total = sum(ratios)
    assert len(parts) == len(ratios)
    assert sum(p.amount for p in parts) == amount
    assert all(p.currency == money.currency for p in parts)
    for part, ratio in zip(parts, ratios, strict=True):
        # |part - amount * ratio / total| < 1, in integers
        assert abs(part.amount * total - amount * ratio) < total
        if ratio == 0:
            assert part.amount == 0


@given(codes, amounts, st.integers(min_value=1, max_value=50), st.integers(1, 1000))
def test_allocate_equal_ratios_differ_by_at_most_one(
    code: str, amount: int, count: int, ratio: int
) -> None:
    parts = [p.amount for p in Money(amount, code).allocate([ratio] * count)]
    assert sum(parts) == amount
    assert max(parts) - min(parts) <= 1
    # larger parts come first (ties go to the earlier part)
    assert parts == sorted(parts, key=abs, reverse=True)


@given(codes, amounts)
def test_decimal_round_trip(code: str, amount: int) -> None:
    money = Money(amount, code)
    assert Money.from_decimal(money.to_decimal(), code) == money
    assert Money.from_decimal(str(money.to_decimal()), code.lower()) == money
    text, shown_code = money.format().split(" ")
    assert shown_code == money.currency
    assert Money.from_decimal(text, shown_code) == money


@given(codes, amounts)
def test_to_decimal_scales_by_the_amount_exponent(code: str, amount: int) -> None:
    money = Money(amount, code)
    exponent = money.currency_info.amount_exponent
    value = money.to_decimal()
    assert value.as_tuple().exponent == -exponent
    assert value.scaleb(exponent) == amount


@given(codes, st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_validate_amount_accepts_exactly_the_valid_amounts(code: str, amount: int) -> None:
    currency = _currency(code)
    if amount >= currency.minimum_amount and amount % currency.amount_step == 0:
        assert validate_amount(amount, currency) == amount
        return
    with pytest.raises(InvalidRequestError) as info:
        validate_amount(amount, currency)
    assert info.value.param == "amount"
    expected = "amount_too_small" if amount < currency.minimum_amount else None
    if expected is None:
        expected = (
            "invalid_charge_amount"
            if currency.three_decimal
            else "invalid_charge_amount_no_decimal_compatible"
        )
    assert info.value.code == expected


@given(codes, st.integers(min_value=MAX_AMOUNT + 1, max_value=10**30))
def test_validate_amount_rejects_everything_above_the_maximum(code: str, amount: int) -> None:
    currency = _currency(code)
    for validate in (validate_amount, validate_partial_amount):
        with pytest.raises(InvalidRequestError) as info:
            validate(amount, currency)
        assert info.value.code == "amount_too_large"
