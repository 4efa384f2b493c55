"""Provider amounts become exact minor units, never through float arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from strongbox.banking.providers.base import category_of, minor_units


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_two_decimal_amounts_are_exact(cents: int) -> None:
    text = str(Decimal(cents).scaleb(-2))
    assert minor_units(text, "USD") == cents
    # As a provider's JSON number read with decimals (Plaid's client path).
    parsed = json.loads(json.dumps({"a": cents / 100}), parse_float=Decimal)["a"]
    assert minor_units(parsed, "usd") == cents


@given(st.integers(min_value=0, max_value=10**9))
def test_zero_decimal_currencies(units: int) -> None:
    assert minor_units(Decimal(units), "JPY") == units


def test_categories_are_conservative() -> None:
    assert category_of("depository") == "cash"
    assert category_of("credit") == "credit"
    assert category_of("investment") == "investment"
    assert category_of("mortgage-ish") == "other"
    assert category_of(None) == "other"
