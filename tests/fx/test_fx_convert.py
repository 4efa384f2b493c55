"""Conversion at a recorded rate: the documented rounding rule, and its invariants."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.core.errors import InvalidRequestError
from strongbox.fx.ecb import RateSet
from strongbox.fx.service import convert

RATES = RateSet(
    "ecb",
    "eur",
    date(2026, 12, 3),
    {
        "eur": Decimal(1),
        "usd": Decimal("1.0523"),
        "jpy": Decimal("158.12"),
        "kwd": Decimal("0.3245"),
        "gbp": Decimal("0.83145"),
    },
)
CURRENCIES = sorted(RATES.rates)


def test_examples_and_the_rounding_rule() -> None:
    c = convert(1000, "eur", "usd", RATES)
    assert (c.amount, c.currency, c.rate, c.rate_date) == (
        1052,
        "usd",
        Decimal("1.0523"),
        RATES.day,
    )
    # 10.00 EUR at 1.0523 = 10.523 USD: 1052.3 cents, rounded half up to 1052.
    assert convert(5, "eur", "usd", RATES).amount == 5  # 5.2615 -> 5
    assert convert(50, "eur", "jpy", RATES).amount == 79  # 0.50 EUR = 79.06 JPY (zero-decimal)
    assert convert(1000, "eur", "kwd", RATES).amount == 3250  # 3.245 KWD -> step 10 -> 3.250
    # A markup of 2% leaves the merchant 2% less.
    m = convert(100_000, "eur", "usd", RATES, markup_bps=200)
    assert (m.amount, m.rate) == (103125, Decimal("1.031254"))
    same = convert(1234, "usd", "usd", RATES)
    assert (same.amount, same.rate) == (1234, Decimal(1))


def test_unknown_rates_and_markups_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as info:
        convert(100, "eur", "chf", RATES)
    assert info.value.code == "exchange_rate_unavailable"
    with pytest.raises(InvalidRequestError):
        convert(100, "eur", "usd", RATES, markup_bps=10_000)


amounts = st.integers(0, 10**12)
pairs = st.tuples(st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES))


@settings(max_examples=300, deadline=None)
@given(amounts, amounts, pairs, st.integers(0, 2000))
def test_conversion_is_monotonic_and_markup_never_pays_more(
    a: int, b: int, pair: tuple[str, str], bps: int
) -> None:
    f, t = pair
    lo, hi = sorted((a, b))
    assert convert(lo, f, t, RATES).amount <= convert(hi, f, t, RATES).amount
    assert convert(hi, f, t, RATES, markup_bps=bps).amount <= convert(hi, f, t, RATES).amount
    assert convert(0, f, t, RATES).amount == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**12), pairs)
def test_the_result_is_within_half_a_step_of_the_exact_product(
    amount: int, pair: tuple[str, str]
) -> None:
    from strongbox.core.currencies import get_currency

    f, t = pair
    c = convert(amount, f, t, RATES)
    src, dst = get_currency(f), get_currency(t)
    assert src is not None
    assert dst is not None
    exact = (
        Decimal(amount).scaleb(-src.amount_exponent) * c.rate * Decimal(10) ** dst.amount_exponent
    )
    assert abs(Decimal(c.amount) - exact) <= Decimal(dst.amount_step) / 2
    assert c.amount % dst.amount_step == 0
