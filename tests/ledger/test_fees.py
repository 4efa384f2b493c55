"""Fee arithmetic and the fee-schedule lookup order."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.ledger.fees import FeeDefault, Fees, compute_fee, parse_fixed
from strongbox.runtime import Runtime
from support import Merchant


def test_compute_fee_rounds_half_up_and_is_capped() -> None:
    assert compute_fee(1000, 290, 30) == 59
    assert compute_fee(50, 100, 0) == 1  # 0.5 rounds up
    assert compute_fee(49, 100, 0) == 0
    assert compute_fee(20, 290, 30) == 20  # never more than the amount
    assert compute_fee(1000, 0, 0) == 0


@given(amount=st.integers(1, 10**8), bps=st.integers(0, 10_000), fixed=st.integers(0, 10**6))
def test_fee_is_the_exact_fee_rounded_and_capped(amount: int, bps: int, fixed: int) -> None:
    fee = compute_fee(amount, bps, fixed)
    exact = Fraction(amount * bps, 10_000) + fixed
    assert 0 <= fee <= amount
    if exact <= amount:
        assert abs(fee - exact) <= Fraction(1, 2)
    else:
        assert fee == amount


def test_parse_fixed() -> None:
    assert parse_fixed("usd=30, EUR=25") == {"usd": 30, "eur": 25}
    assert parse_fixed("") == {}
    for bad in ("usd", "usd=-1", "zzz=1", "usd=1;eur=2"):
        with pytest.raises(ValueError, match="currency=amount"):
            parse_fixed(bad)


def test_lookup_order_currency_then_any_then_default(runtime: Runtime, merchant: Merchant) -> None:
    fees = Fees(FeeDefault(100, {"usd": 7}), cache_seconds=0)
    with runtime.db.unit_of_work() as uow:
        assert fees.schedule_for(uow, merchant.id, "usd") == (100, 7)
        assert fees.schedule_for(uow, merchant.id, "eur") == (100, 0)
        fees.set_schedule(uow, merchant.id, "*", 50, 1)
        assert fees.schedule_for(uow, merchant.id, "usd") == (50, 1)
        fees.set_schedule(uow, merchant.id, "usd", 20, 2)
        assert fees.schedule_for(uow, merchant.id, "usd") == (20, 2)
        assert fees.schedule_for(uow, merchant.id, "eur") == (50, 1)
        uow.commit()


def test_a_change_made_here_applies_at_once_despite_the_cache(
    runtime: Runtime, merchant: Merchant
) -> None:
    fees = Fees(FeeDefault(100), cache_seconds=3600)
    with runtime.db.unit_of_work() as uow:
        assert fees.fee_for(uow, merchant.id, "usd", 1000) == 10
        fees.set_schedule(uow, merchant.id, "usd", 500, 0)
        uow.commit()
    with runtime.db.unit_of_work() as uow:
        assert fees.fee_for(uow, merchant.id, "usd", 1000) == 50
