"""The queries of ``strongbox ledger verify``: aggregates and scans over every merchant
(system work, read-only).

Sums are exact whatever is stored: PostgreSQL sums ``bigint`` as ``numeric``; SQLite's
``sum()`` fails on a 64-bit overflow (``integer overflow``), so each value is summed in two
halves (``x >> 32`` and ``x & 0xFFFFFFFF``, neither of which can overflow) and put back
together in Python. A value SQLite holds as anything but an integer (a ``real`` left by an
overflow before the limits existed, text written by hand) is left out of the sums and
reported by ``non_integers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, cast

from sqlalchemy import Table, and_, case, func, or_, select
from sqlalchemy.orm import Session

from strongbox.ledger.models import (
    KIND_PENDING,
    KIND_POST,
    SYSTEM_PURPOSES,
    BalanceSlot,
    LedgerAccount,
    LedgerTransfer,
)

ACCOUNTS: Final = cast(Table, LedgerAccount.__table__)
SLOTS: Final = cast(Table, BalanceSlot.__table__)
TRANSFERS: Final = cast(Table, LedgerTransfer.__table__)
SLOT_FIELDS: Final = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
_LOW: Final = 0xFFFFFFFF


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _sum(session: Session, col: Any) -> list[Any]:
    """The columns whose values ``_total`` puts back together into ``sum(col)``."""
    if not _sqlite(session):
        return [func.sum(col)]
    whole = func.typeof(col) == "integer"
    return [
        func.sum(case((whole, col.op(">>")(32)), else_=0)),
        func.sum(case((whole, col.op("&")(_LOW)), else_=0)),
    ]


def _total(session: Session, parts: Any) -> int:
    if not _sqlite(session):
        return int(parts[0] or 0)
    return int(parts[0] or 0) * (_LOW + 1) + int(parts[1] or 0)


def _width(session: Session) -> int:
    return 2 if _sqlite(session) else 1


def transfer_totals(session: Session, *, debit: bool) -> list[tuple[str, str, int]]:
    """(account, kind, sum of amounts) of every transfer, by its debit or credit account."""
    t = TRANSFERS.c
    side = t.debit_account_id if debit else t.credit_account_id
    return [
        (row[0], row[1], _total(session, row[2:]))
        for row in session.execute(
            select(side, t.kind, *_sum(session, t.amount)).group_by(side, t.kind)
        )
    ]


def post_releases(session: Session, *, debit: bool) -> list[tuple[str, int]]:
    """(account, sum of the pending amounts its posts release), by debit or credit account."""
    r = TRANSFERS.alias("r")
    p = TRANSFERS.alias("p")
    r_side = r.c.debit_account_id if debit else r.c.credit_account_id
    return [
        (row[0], _total(session, row[1:]))
        for row in session.execute(
            select(r_side, *_sum(session, p.c.amount))
            .join(p, and_(p.c.merchant_id == r.c.merchant_id, p.c.id == r.c.pending_id))
            .where(r.c.kind == KIND_POST)
            .group_by(r_side)
        )
    ]


def all_accounts(session: Session) -> list[Any]:
    """(id, merchant_id, purpose, currency, flags, slots) of every account."""
    a = ACCOUNTS.c
    return list(
        session.execute(select(a.id, a.merchant_id, a.purpose, a.currency, a.flags, a.slots))
    )


def count_transfers(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(TRANSFERS)) or 0)


def slot_totals(session: Session) -> list[tuple[str, int, int, int, int]]:
    """Every account's balance slots, summed: (account, dp, dpo, cp, cpo)."""
    s = SLOTS.c
    cols = [part for name in SLOT_FIELDS for part in _sum(session, s[name])]
    w = _width(session)
    out: list[tuple[str, int, int, int, int]] = []
    for row in session.execute(select(s.account_id, *cols).group_by(s.account_id)):
        dp, dpo, cp, cpo = (_total(session, row[1 + i * w : 1 + (i + 1) * w]) for i in range(4))
        out.append((row[0], dp, dpo, cp, cpo))
    return out


def non_integers(session: Session) -> list[tuple[str, str, str]]:
    """(where, column, the value as stored) of every ledger number SQLite does not hold as an
    integer. PostgreSQL's ``bigint`` columns hold nothing else."""
    if not _sqlite(session):
        return []
    out: list[tuple[str, str, str]] = []
    t = TRANSFERS.c
    for merchant, tid, value in session.execute(
        select(t.merchant_id, t.id, t.amount).where(func.typeof(t.amount) != "integer")
    ):
        out.append((f"{merchant}/{tid}", "amount", repr(value)))
    s = SLOTS.c
    for name in SLOT_FIELDS:
        for acct, slot, value in session.execute(
            select(s.account_id, s.slot, s[name]).where(func.typeof(s[name]) != "integer")
        ):
            out.append((f"{acct} slot {slot}", name, repr(value)))
    return out


def amounts_above(session: Session, maximum: int) -> list[tuple[str, str, int]]:
    """(merchant, id, amount) of transfers whose amount is above ``maximum``."""
    t = TRANSFERS.c
    return [
        (merchant, tid, amount)
        for merchant, tid, amount in session.execute(
            select(t.merchant_id, t.id, t.amount).where(t.amount > maximum)
        )
    ]


def invalid_transfers(session: Session) -> list[tuple[str, str]]:
    """(id, merchant) of transfers whose accounts are missing, of another currency or
    merchant, the same on both sides, or whose amount is not positive."""
    t = TRANSFERS.c
    d = ACCOUNTS.alias("d")
    c = ACCOUNTS.alias("c")
    return [
        (tid, merchant)
        for tid, merchant in session.execute(
            select(t.id, t.merchant_id)
            .outerjoin(d, d.c.id == t.debit_account_id)
            .outerjoin(c, c.c.id == t.credit_account_id)
            .where(
                (d.c.id.is_(None))
                | (c.c.id.is_(None))
                | (d.c.currency != t.currency)
                | (c.c.currency != t.currency)
                | (d.c.merchant_id != t.merchant_id)
                | (c.c.merchant_id != t.merchant_id)
                | (t.amount <= 0)
                | (t.debit_account_id == t.credit_account_id)
            )
        )
    ]


def mismatched_resolutions(session: Session) -> list[tuple[str, str]]:
    """(id, merchant) of posts, voids and expiries that do not match their pending
    transfer (missing, not pending, other accounts, or another amount)."""
    r = TRANSFERS.alias("r")
    p = TRANSFERS.alias("p")
    return [
        (tid, merchant)
        for tid, merchant in session.execute(
            select(r.c.id, r.c.merchant_id)
            .outerjoin(p, and_(p.c.merchant_id == r.c.merchant_id, p.c.id == r.c.pending_id))
            .where(
                r.c.pending_id.is_not(None),
                (p.c.seq.is_(None))
                | (p.c.kind != KIND_PENDING)
                | (p.c.debit_account_id != r.c.debit_account_id)
                | (p.c.credit_account_id != r.c.credit_account_id)
                | (r.c.amount > p.c.amount)
                | ((r.c.kind != KIND_POST) & (r.c.amount != p.c.amount)),
            )
        )
    ]


def rule_transfers(session: Session, reserved_prefix: str) -> Iterator[Any]:
    """Every transfer a posting rule may have written: a reserved id, or an account of the
    rules' (``SYSTEM_PURPOSES``) on either side. Rows (merchant_id, id, source, kind,
    debit_purpose, credit_purpose), streamed in (merchant, source) order."""
    t = TRANSFERS.c
    d = ACCOUNTS.alias("d")
    c = ACCOUNTS.alias("c")
    stmt = (
        select(
            t.merchant_id,
            t.id,
            t.source,
            t.kind,
            d.c.purpose.label("debit_purpose"),
            c.c.purpose.label("credit_purpose"),
        )
        .outerjoin(d, d.c.id == t.debit_account_id)
        .outerjoin(c, c.c.id == t.credit_account_id)
        .where(
            or_(
                t.id.startswith(reserved_prefix, autoescape=True),
                d.c.purpose.in_(SYSTEM_PURPOSES),
                c.c.purpose.in_(SYSTEM_PURPOSES),
            )
        )
        .order_by(t.merchant_id, t.source, t.seq)
        .execution_options(yield_per=1000)
    )
    yield from session.execute(stmt)
