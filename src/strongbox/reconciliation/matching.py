"""Matching a day of gateway report lines with what Strongbox recorded: a pure function.

1. By reference: a line naming an object's gateway reference (or the object's own id) pairs
   with that object, whatever day the object was recorded on (when one reference names
   several objects, such as a payment's refunds, the one with the line's amount first). A
   line naming only objects already paired is a ``duplicate``.
2. By amount, currency and date window: a line no reference paired takes the unpaired object
   of the same kind, currency and amount recorded nearest in time, within ``window``.
3. A pair whose amount (or currency) differs is an ``amount_mismatch``; one whose fee differs
   (when both sides know it) a ``fee_mismatch``; otherwise ``matched``.
4. Lines left are ``missing_in_strongbox``; objects recorded on the run's day and left
   unpaired are ``missing_at_gateway`` (objects of neighbouring days that stay unpaired
   belong to their own day's run).

Everything is keyed in dictionaries: linear in the number of lines and objects.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from strongbox.reconciliation.formats import Line
from strongbox.reconciliation.models import (
    AMOUNT_MISMATCH,
    DUPLICATE,
    FEE_MISMATCH,
    MATCHED,
    MISSING_AT_GATEWAY,
    MISSING_IN_STRONGBOX,
    OUTCOMES,
)

DEFAULT_WINDOW = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Item:
    """A payment (its capture) or a refund as Strongbox recorded it, amounts in minor units."""

    object_id: str  # pi_… or re_…
    kind: str  # charge | refund
    reference: str | None  # the gateway's reference for it
    amount: int  # signed: refunds negative
    fee: int | None  # the fee Strongbox recorded (None: not compared)
    currency: str
    occurred: datetime

    @property
    def day(self) -> str:
        return self.occurred.date().isoformat()


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str
    line: Line | None
    item: Item | None
    line_key: str | None = None


def _compare(line: Line, item: Item) -> str:
    if line.currency != item.currency or line.amount != item.amount:
        return AMOUNT_MISMATCH
    if line.fee is not None and item.fee is not None and line.fee != item.fee:
        return FEE_MISMATCH
    return MATCHED


def match(
    lines: Sequence[tuple[str, Line]],
    items: Iterable[Item],
    day: str,
    *,
    window: timedelta = DEFAULT_WINDOW,
) -> list[Result]:
    """Every line and every object of ``day``, each with its outcome. ``lines`` are
    ``(line_key, line)``; ``items`` the objects that may pair with them."""
    by_ref: dict[tuple[str, str], list[Item]] = defaultdict(list)
    pool: list[Item] = []
    for item in items:
        pool.append(item)
        by_ref[(item.kind, item.object_id)].append(item)
        if item.reference and item.reference != item.object_id:
            by_ref[(item.kind, item.reference)].append(item)
    paired: set[str] = set()
    results: list[Result] = []
    left: list[tuple[str, Line]] = []
    for key, line in sorted(lines, key=lambda kl: (kl[1].occurred, kl[1].line_no, kl[0])):
        candidates: list[Item] = []
        for ref in line.refs:
            candidates = by_ref.get((line.kind, ref), [])
            if candidates:
                break
        if not candidates:
            left.append((key, line))
            continue
        found = _pick(candidates, line, paired)
        if found is None:
            results.append(Result(DUPLICATE, line, candidates[0], key))
        else:
            paired.add(found.object_id)
            results.append(Result(_compare(line, found), line, found, key))
    if left:
        # Unpaired objects by (kind, currency, amount), each list in time order.
        buckets: dict[tuple[str, str, int], list[tuple[datetime, str, Item]]] = defaultdict(list)
        for item in pool:
            if item.object_id not in paired:
                buckets[(item.kind, item.currency, item.amount)].append(
                    (item.occurred, item.object_id, item)
                )
        for bucket in buckets.values():
            bucket.sort(key=lambda t: (t[0], t[1]))
        for key, line in left:
            found_bucket = buckets.get((line.kind, line.currency, line.amount))
            best = _nearest(found_bucket, line.occurred, window) if found_bucket else None
            if found_bucket is None or best is None:
                results.append(Result(MISSING_IN_STRONGBOX, line, None, key))
                continue
            item = found_bucket.pop(best)[2]
            paired.add(item.object_id)
            results.append(Result(_compare(line, item), line, item, key))
    seen: set[str] = set()
    for item in pool:
        if item.object_id in paired or item.object_id in seen or item.day != day:
            continue
        seen.add(item.object_id)
        results.append(Result(MISSING_AT_GATEWAY, None, item))
    return results


def _pick(candidates: list[Item], line: Line, paired: set[str]) -> Item | None:
    """The object a line's reference names. A reference may name several objects (a
    gateway that names a refund by its payment): the first unpaired one with the line's
    amount and currency, else the first unpaired one; ``None`` when all are paired."""
    free = [c for c in candidates if c.object_id not in paired]
    for c in free:
        if c.amount == line.amount and c.currency == line.currency:
            return c
    return free[0] if free else None


def _nearest(
    bucket: list[tuple[datetime, str, Item]], at: datetime, window: timedelta
) -> int | None:
    i = bisect.bisect_left(bucket, at, key=lambda t: t[0])
    best: int | None = None
    for j in (i - 1, i):
        if 0 <= j < len(bucket):
            gap = abs(bucket[j][0] - at)
            if gap <= window and (best is None or gap < abs(bucket[best][0] - at)):
                best = j
    return best


def summarize(results: Iterable[Result]) -> dict[str, Any]:
    """Counts and amounts per outcome (amounts per currency, each side's own figure)."""
    out: dict[str, Any] = {o: {"count": 0, "amounts": {}} for o in OUTCOMES}
    for r in results:
        entry = out[r.outcome]
        entry["count"] += 1
        cur = r.line.currency if r.line is not None else r.item.currency if r.item else "xxx"
        sums = entry["amounts"].setdefault(cur, {"gateway": 0, "strongbox": 0})
        if r.line is not None:
            sums["gateway"] += r.line.amount
        if r.item is not None and r.outcome != DUPLICATE:
            sums["strongbox"] += r.item.amount
    return out
