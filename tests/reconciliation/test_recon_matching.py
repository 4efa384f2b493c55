"""Invariants of the matcher, over generated days of payments and gateway reports."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.reconciliation.formats import Line
from strongbox.reconciliation.matching import Item, match, summarize
from strongbox.reconciliation.models import (
    AMOUNT_MISMATCH,
    DUPLICATE,
    FEE_MISMATCH,
    MATCHED,
    MISSING_AT_GATEWAY,
    MISSING_IN_STRONGBOX,
)

DAY = "2024-05-10"
START = datetime(2024, 5, 10, tzinfo=UTC)

items_st = st.lists(
    st.tuples(
        st.sampled_from(["charge", "refund"]),
        st.integers(1, 5000),  # amount
        st.integers(0, 200),  # fee
        st.integers(-3 * 86400, 2 * 86400 - 1),  # seconds from the day's start
        st.booleans(),  # has a gateway reference
    ),
    max_size=40,
)
# What the gateway does with each object: reports it as is, with another amount or fee,
# twice, without its reference, or not at all.
fates_st = st.sampled_from(["same", "amount", "fee", "twice", "no_ref", "absent"])


def _items(raw: list[tuple[str, int, int, int, bool]]) -> list[Item]:
    out = []
    for i, (kind, amount, fee, offset, has_ref) in enumerate(raw):
        sign = -1 if kind == "refund" else 1
        out.append(
            Item(
                object_id=f"{'re' if kind == 'refund' else 'pi'}_{i}",
                kind=kind,
                reference=f"gw_{i}" if has_ref else None,
                amount=sign * amount,
                fee=fee if kind == "charge" else None,
                currency="eur",
                occurred=START + timedelta(seconds=offset),
            )
        )
    return out


def _line(n: int, item: Item, *, amount: int | None = None, fee: int | None = None,
          refs: tuple[str, ...] | None = None) -> tuple[str, Line]:  # fmt: skip
    return (
        f"line_{n}",
        Line(
            line_no=n,
            kind=item.kind,
            occurred=item.occurred + timedelta(minutes=5),
            line_id=f"txn_{n}",
            refs=refs if refs is not None else (item.reference or item.object_id,),
            amount=item.amount if amount is None else amount,
            fee=item.fee if fee is None else fee,
            currency=item.currency,
        ),
    )


@settings(max_examples=150, deadline=None)
@given(items_st, st.data())
def test_every_line_and_every_object_of_the_day_ends_with_one_outcome(
    raw: list[tuple[str, int, int, int, bool]], data: st.DataObject
) -> None:
    items = _items(raw)
    lines: list[tuple[str, Line]] = []
    fates = {}
    for item in items:
        fate = data.draw(fates_st)
        fates[item.object_id] = fate
        n = len(lines) + 2
        if fate == "same":
            lines.append(_line(n, item))
        elif fate == "amount":
            lines.append(_line(n, item, amount=item.amount + 7))
        elif fate == "fee":
            lines.append(_line(n, item, fee=(item.fee or 0) + 3) if item.fee is not None else
                         _line(n, item))  # fmt: skip
        elif fate == "twice":
            lines.append(_line(n, item))
            lines.append(_line(n + 1, item))
        elif fate == "no_ref":
            lines.append(_line(n, item, refs=("unknown",)))
    results = match(lines, items, DAY, window=timedelta(days=2))

    # Every line ends in exactly one result.
    line_keys = Counter(r.line_key for r in results if r.line is not None)
    assert line_keys == Counter(k for k, _ in lines)
    # Every object is paired at most once (duplicates aside), and every unpaired object of
    # the day is reported missing at the gateway, once.
    paired = Counter(
        r.item.object_id
        for r in results
        if r.item is not None and r.outcome in (MATCHED, AMOUNT_MISMATCH, FEE_MISMATCH)
    )
    assert all(n == 1 for n in paired.values())
    missing = [r.item.object_id for r in results if r.outcome == MISSING_AT_GATEWAY and r.item]
    assert len(missing) == len(set(missing))
    for item in items:
        if item.day == DAY and item.object_id not in paired:
            assert item.object_id in missing
        if item.object_id in missing:
            assert item.day == DAY
            assert item.object_id not in paired
    # Objects the gateway reported exactly, by reference, are matched.
    by_obj = {r.item.object_id: r.outcome for r in results if r.item is not None and r.line}
    for item in items:
        fate = fates[item.object_id]
        if fate in ("same", "twice"):
            assert by_obj[item.object_id] in (MATCHED, DUPLICATE)
        if fate == "amount":
            assert by_obj[item.object_id] == AMOUNT_MISMATCH
        if fate == "fee" and item.fee is not None:
            assert by_obj[item.object_id] == FEE_MISMATCH
    dup = [r for r in results if r.outcome == DUPLICATE]
    assert len(dup) == sum(1 for f in fates.values() if f == "twice")
    # The report's counts and gateway amounts add up to the lines'.
    summary = summarize(results)
    assert sum(v["count"] for v in summary.values()) == len(results)
    gateway_total = sum(s["gateway"] for v in summary.values() for s in v["amounts"].values())
    assert gateway_total == sum(ln.amount for _, ln in lines)


def test_fallback_prefers_the_nearest_object_within_the_window() -> None:
    base = Item("pi_a", "charge", None, 500, 0, "eur", START + timedelta(hours=1))
    near = Item("pi_b", "charge", None, 500, 0, "eur", START + timedelta(hours=10))
    far = Item("pi_c", "charge", None, 500, 0, "eur", START - timedelta(days=5))
    line = Line(2, "charge", START + timedelta(hours=9), "t", ("x",), 500, 0, "eur")
    results = match([("k", line)], [base, near, far], DAY, window=timedelta(days=1))
    outcome = {r.item.object_id if r.item else None: r.outcome for r in results}
    assert outcome == {"pi_b": MATCHED, "pi_a": MISSING_AT_GATEWAY}  # far: another day
    late = Line(3, "charge", START + timedelta(days=4), "u", ("y",), 500, 0, "eur")
    results = match([("k", late)], [far], DAY, window=timedelta(days=1))
    assert [r.outcome for r in results] == [MISSING_IN_STRONGBOX]
