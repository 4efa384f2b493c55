"""The batch rules without a database: the limit checks and the slot layout."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.core.errors import LedgerError
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
)
from strongbox.ledger.rules import check_limits, pack
from strongbox.ledger.transfers import MAX_BALANCE, AccountInfo, balance_limit, slot_share

LIMIT = MAX_BALANCE


def _acct(flags: int = 0, slots: int = 16) -> AccountInfo:
    return AccountInfo("la_x", "acct_m", "cash", "usd", flags, slots)


def _code(
    before: tuple[int, int, int, int], delta: tuple[int, int, int, int], flags: int = 0
) -> str | None:
    try:
        check_limits(_acct(flags), before, delta)
    except LedgerError as exc:
        return f"{exc.code}@{exc.param}".removesuffix("@amount")
    return None


@pytest.mark.parametrize(
    ("before", "delta", "code"),
    [
        ((LIMIT, 0, 0, 0), (1, 0, 0, 0), "overflows_debits_pending"),
        ((0, 0, LIMIT, 0), (0, 0, 1, 0), "overflows_credits_pending"),
        ((0, LIMIT, 0, 0), (0, 1, 0, 0), "overflows_debits_posted"),
        ((0, 0, 0, LIMIT), (0, 0, 0, 1), "overflows_credits_posted"),
        ((LIMIT - 1, 1, 0, 0), (0, 1, 0, 0), "overflows_debits"),
        ((0, 0, 1, LIMIT - 1), (0, 0, 1, 0), "overflows_credits"),
        ((LIMIT - 1, 0, 0, 0), (1, 0, 0, 0), None),  # exactly at the limit
        ((LIMIT, 0, 0, 0), (-LIMIT, LIMIT, 0, 0), None),  # a post never overflows
        ((LIMIT, 0, 0, 0), (-LIMIT, 0, 0, 0), None),  # nor a void
        ((LIMIT + 5, 0, 0, 0), (-1, 0, 0, 0), None),  # a release, even past it (old rows)
    ],
)
def test_overflow_codes_in_tigerbeetles_order(
    before: tuple[int, int, int, int], delta: tuple[int, int, int, int], code: str | None
) -> None:
    assert _code(before, delta) == code


def test_the_flags_are_checked_after_the_limits_and_only_against_growth() -> None:
    dmnec, cmned = DEBITS_MUST_NOT_EXCEED_CREDITS, CREDITS_MUST_NOT_EXCEED_DEBITS
    assert _code((0, 0, 0, 5), (0, 6, 0, 0), dmnec) == "exceeds_credits"
    assert _code((0, 0, 0, 5), (0, 5, 0, 0), dmnec) is None
    assert _code((0, 5, 0, 0), (0, 0, 0, 6), cmned) == "exceeds_debits"
    assert _code((0, 0, 0, LIMIT), (0, LIMIT + 1, 0, 0), dmnec) == "overflows_debits_posted"
    assert _code((9, 0, 0, 5), (-9, 0, 0, 0), dmnec) is None  # a release, though already past


def test_the_limit_of_other_slot_counts_never_exceeds_max_balance() -> None:
    assert balance_limit(1) == balance_limit(16) == balance_limit(64) == MAX_BALANCE
    for slots in range(1, 65):
        assert balance_limit(slots) <= MAX_BALANCE
        assert slot_share(slots) * slots == balance_limit(slots)
    assert _code((0, 0, 0, 0), (0, balance_limit(3) + 1, 0, 0)) is None  # 16 slots here
    with pytest.raises(LedgerError):
        check_limits(_acct(slots=3), (0, 0, 0, 0), (0, balance_limit(3) + 1, 0, 0))


SIDE = st.integers(min_value=0, max_value=LIMIT)


@given(
    slots=st.sampled_from([1, 2, 3, 16, 64]),
    debits=st.tuples(SIDE, SIDE),
    credits=st.tuples(SIDE, SIDE),
)
def test_pack_lays_a_balance_within_every_slots_share(
    slots: int, debits: tuple[int, int], credits: tuple[int, int]
) -> None:
    """Any balance within the account's limit fits its slots, each slot within its share
    per side, nothing negative, the sums unchanged: afterwards a posting that fits its own
    slot fits the account."""
    limit, share = balance_limit(slots), slot_share(slots)
    dp = min(debits[0], limit)
    dpo = min(debits[1], limit - dp)
    cp = min(credits[0], limit)
    cpo = min(credits[1], limit - cp)
    layout = pack((dp, dpo, cp, cpo), slots)
    assert len(layout) == slots
    assert tuple(map(sum, zip(*layout, strict=True))) == (dp, dpo, cp, cpo)
    for a, b, c, d in layout:
        assert min(a, b, c, d) >= 0
        assert a + b <= share
        assert c + d <= share
