"""The ledger's queries: the service's reads, the fee schedules', the balance reports' and
``strongbox ledger verify``'s. The statements that write a batch are in ``writes.py``.

Every query of a merchant's rows filters by ``merchant_id``; ``due_expiries`` and the
verification aggregates are system work across merchants. The transfer lookup of a posting
is built once per process (``_FIND_PG``): building one costs about as much CPU as running
it, and its parameters are bound per call. The pending-transfer resolutions and the slot and
account reads are still built per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import (
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.ledger.models import (
    CODE_SETTLEMENT,
    KIND_PENDING,
    KIND_POST,
    KIND_POSTED,
    MERCHANT_BALANCE_PURPOSES,
    BalanceSlot,
    FeeSchedule,
    LedgerAccount,
    LedgerTransfer,
)

ACCOUNTS: Final = cast(Table, LedgerAccount.__table__)
SLOTS: Final = cast(Table, BalanceSlot.__table__)
TRANSFERS: Final = cast(Table, LedgerTransfer.__table__)

_CHUNK: Final = 900


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def transfer_columns() -> list[Any]:
    t = TRANSFERS.c
    return [
        t.id,
        t.txn_id,
        t.merchant_id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.currency,
        t.kind,
        t.pending_id,
        t.timeout_at,
        t.code,
        t.source,
        t.linked,
        t.metadata,
        t.created,
    ]


def _in(session: Session, column: Any, values: list[str]) -> list[Any]:
    """``column IN values`` as few conditions as the dialect allows: one array parameter on
    PostgreSQL (hashed, whatever the length), chunks of IN lists on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return [column == any_(bindparam("vals", values, type_=ARRAY(String)))]
    return [column.in_(chunk) for chunk in _chunks(values)]


def _find_pg() -> Any:
    x = func.unnest(bindparam("vals", type_=ARRAY(String))).table_valued("id").render_derived()
    lat = (
        select(*transfer_columns())
        .where(LedgerTransfer.merchant_id == bindparam("m"), LedgerTransfer.id == x.c.id)
        .lateral("t")
    )
    return select(lat).select_from(x).join(lat, true())


# The transfer lookup of every posting, built once (building one costs about as much CPU as
# running it; its parameters are bound per call). The write statements: ``writes.py``.
_FIND_PG: Final = _find_pg()


# ---------------------------------------------------------------------- accounts


def insert_account(session: Session, dialect: str, values: dict[str, Any], slots: int) -> None:
    """Insert the account and its ``slots`` zero balance slots, unless one with its purpose
    and currency exists (``ON CONFLICT DO NOTHING``: safe under concurrency)."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = ins(ACCOUNTS).values(**values).on_conflict_do_nothing().returning(ACCOUNTS.c.id)
    if session.execute(stmt).first() is not None:
        session.execute(
            insert(SLOTS),
            [
                {
                    "account_id": values["id"],
                    "slot": s,
                    "merchant_id": values["merchant_id"],
                    "debits_pending": 0,
                    "debits_posted": 0,
                    "credits_pending": 0,
                    "credits_posted": 0,
                }
                for s in range(slots)
            ],
        )


def account_row_by_purpose(session: Session, merchant_id: str, purpose: str, currency: str) -> Any:
    """The stored account row (columns, not an ORM object) with this purpose and currency."""
    return session.execute(
        select(ACCOUNTS).where(
            LedgerAccount.merchant_id == merchant_id,
            LedgerAccount.purpose == purpose,
            LedgerAccount.currency == currency,
        )
    ).one()


def get_account(session: Session, merchant_id: str, account_id: str) -> LedgerAccount | None:
    return session.scalars(
        select(LedgerAccount).where(
            LedgerAccount.merchant_id == merchant_id, LedgerAccount.id == account_id
        )
    ).first()


def find_account(
    session: Session, merchant_id: str, purpose: str, currency: str
) -> LedgerAccount | None:
    return session.scalars(
        select(LedgerAccount).where(
            LedgerAccount.merchant_id == merchant_id,
            LedgerAccount.purpose == purpose,
            LedgerAccount.currency == currency,
        )
    ).first()


def account_rows(session: Session, merchant_id: str, account_ids: list[str]) -> list[Any]:
    """The merchant's account rows among ``account_ids`` (columns, not ORM objects)."""
    a_cols = ACCOUNTS.c
    out: list[Any] = []
    for cond in _in(session, a_cols.id, account_ids) if account_ids else []:
        out.extend(session.execute(select(ACCOUNTS).where(a_cols.merchant_id == merchant_id, cond)))
    return out


def list_accounts(
    session: Session, merchant_id: str, page: PageRequest, currency: str | None
) -> Page[LedgerAccount]:
    conds = [LedgerAccount.currency == currency.lower()] if currency else []
    return paginate(session, LedgerAccount, merchant_id, page, conds)


# ---------------------------------------------------------------------- balance slots


def slot_rows(session: Session, merchant_id: str, account_ids: list[str]) -> list[Any]:
    """Every balance slot of the accounts: (account_id, debits_pending, debits_posted,
    credits_pending, credits_posted)."""
    s = SLOTS.c
    out: list[Any] = []
    for chunk in _chunks(account_ids):
        out.extend(
            session.execute(
                select(
                    s.account_id,
                    s.debits_pending,
                    s.debits_posted,
                    s.credits_pending,
                    s.credits_posted,
                ).where(s.merchant_id == merchant_id, s.account_id.in_(chunk))
            )
        )
    return out


def constrained_slot_rows(
    session: Session,
    dialect: str,
    merchant_id: str,
    constrained: set[str],
    others: list[tuple[str, int]],
) -> list[Any]:
    """The slots (account_id and the four sums) of the ``constrained`` accounts.

    On PostgreSQL they are locked together with ``others`` (the chosen slot of every other
    account the batch touches), in one statement ordered by (account, slot): two batches
    take their locks in the same order, so they cannot deadlock. Without a constrained
    account no lock is needed up front (the slot updates themselves run in that order)."""
    s = SLOTS.c
    if dialect == "postgresql" and constrained:
        conds: list[Any] = []
        if constrained:
            conds.append(s.account_id.in_(sorted(constrained)))
        if others:
            conds.append(tuple_(s.account_id, s.slot).in_(others))
        stmt = (
            select(
                s.account_id,
                s.debits_pending,
                s.debits_posted,
                s.credits_pending,
                s.credits_posted,
            )
            .where(s.merchant_id == merchant_id, or_(*conds))
            .order_by(s.account_id, s.slot)
            .with_for_update()
        )
        return list(session.execute(stmt))
    if constrained:
        return list(
            session.execute(
                select(
                    s.account_id,
                    s.debits_pending,
                    s.debits_posted,
                    s.credits_pending,
                    s.credits_posted,
                ).where(s.merchant_id == merchant_id, s.account_id.in_(sorted(constrained)))
            )
        )
    return []


# ---------------------------------------------------------------------- transfers


def transfer_row(session: Session, merchant_id: str, transfer_id: str) -> Any | None:
    return session.execute(
        select(*transfer_columns()).where(
            LedgerTransfer.merchant_id == merchant_id, LedgerTransfer.id == transfer_id
        )
    ).first()


def transfer_rows(session: Session, merchant_id: str, id_list: list[str]) -> list[Any]:
    """The merchant's transfers with these client ids (``transfer_columns`` rows)."""
    if session.get_bind().dialect.name == "postgresql" and len(id_list) > 1:
        # One index probe per id (a LATERAL join on the unique index), whatever the
        # table's statistics say: right after a bulk load they can be stale enough for
        # the planner to scan every row of the merchant once per id.
        return list(session.execute(_FIND_PG, {"m": merchant_id, "vals": id_list}))
    out: list[Any] = []
    for cond in _in(session, LedgerTransfer.id, id_list):
        out.extend(
            session.execute(
                select(*transfer_columns()).where(LedgerTransfer.merchant_id == merchant_id, cond)
            )
        )
    return out


def resolutions(
    session: Session, dialect: str, merchant_id: str, pending_ids: list[str]
) -> list[tuple[str, str]]:
    """(pending id, kind) of every stored post, void or expiry of these pending transfers."""
    t = TRANSFERS.c
    if dialect == "postgresql":
        x = (
            func.unnest(bindparam("pids", pending_ids, type_=ARRAY(String)))
            .table_valued("pid")
            .render_derived()
        )
        lat = (
            select(t.pending_id, t.kind)
            .where(t.merchant_id == merchant_id, t.pending_id == x.c.pid)
            .lateral("r")
        )
        return [
            (pid, kind)
            for pid, kind in session.execute(select(lat).select_from(x).join(lat, true()))
        ]
    out: list[tuple[str, str]] = []
    for cond in _in(session, t.pending_id, pending_ids):
        for pid, kind in session.execute(
            select(t.pending_id, t.kind).where(t.merchant_id == merchant_id, cond)
        ):
            out.append((pid, kind))
    return out


def list_transfers(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    account: str | None = None,
    source: str | None = None,
    created: dict[str, int] | None = None,
) -> Page[LedgerTransfer]:
    conds: list[Any] = []
    if account:
        conds.append(
            or_(
                LedgerTransfer.debit_account_id == account,
                LedgerTransfer.credit_account_id == account,
            )
        )
    if source:
        conds.append(LedgerTransfer.source == source)
    return paginate(session, LedgerTransfer, merchant_id, page, conds, created=created)


def due_expiries(session: Session, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(merchant id, id) of pending transfers past their timeout and not resolved, oldest
    timeout first (system work, every merchant)."""
    p = TRANSFERS.alias("p")
    r = TRANSFERS.alias("r")
    return [
        (merchant_id, pid)
        for merchant_id, pid in session.execute(
            select(p.c.merchant_id, p.c.id)
            .outerjoin(r, and_(r.c.merchant_id == p.c.merchant_id, r.c.pending_id == p.c.id))
            .where(p.c.kind == KIND_PENDING, p.c.timeout_at <= now, r.c.seq.is_(None))
            .order_by(p.c.timeout_at)
            .limit(limit)
        )
    ]


# ---------------------------------------------------------------------- fee schedules


def fee_schedules_for(
    session: Session, merchant_id: str, currencies: Iterable[str]
) -> list[FeeSchedule]:
    return list(
        session.scalars(
            select(FeeSchedule).where(
                FeeSchedule.merchant_id == merchant_id,
                FeeSchedule.currency.in_(list(currencies)),
            )
        )
    )


def get_fee_schedule(session: Session, merchant_id: str, currency: str) -> FeeSchedule | None:
    return session.get(FeeSchedule, (merchant_id, currency))


def add_fee_schedule(session: Session, row: FeeSchedule) -> None:
    session.add(row)


def list_fee_schedules(session: Session, merchant_id: str) -> list[FeeSchedule]:
    return list(
        session.scalars(
            select(FeeSchedule)
            .where(FeeSchedule.merchant_id == merchant_id)
            .order_by(FeeSchedule.currency)
        )
    )


# ---------------------------------------------------------------------- balance reports


def balance_accounts(session: Session, merchant_id: str) -> list[Any]:
    """(id, purpose, currency) of the merchant's balance accounts (pending and available)."""
    return list(
        session.execute(
            select(ACCOUNTS.c.id, ACCOUNTS.c.purpose, ACCOUNTS.c.currency).where(
                ACCOUNTS.c.merchant_id == merchant_id,
                ACCOUNTS.c.purpose.in_(MERCHANT_BALANCE_PURPOSES),
            )
        )
    )


def balance_account_purposes(session: Session, merchant_id: str) -> dict[str, str]:
    """The merchant's balance accounts: id -> purpose."""
    return {
        r.id: r.purpose
        for r in session.execute(
            select(ACCOUNTS.c.id, ACCOUNTS.c.purpose).where(
                ACCOUNTS.c.merchant_id == merchant_id,
                ACCOUNTS.c.purpose.in_(MERCHANT_BALANCE_PURPOSES),
            )
        )
    }


def _balance_conditions(account_ids: list[str], fee_code: str) -> list[Any]:
    """Posted transfers into or out of these accounts, other than fees and settlements (a
    move between the merchant's own pending and available balances)."""
    return [
        TRANSFERS.c.kind.in_([KIND_POSTED, KIND_POST]),
        TRANSFERS.c.code.not_in([fee_code, CODE_SETTLEMENT]),
        or_(
            TRANSFERS.c.debit_account_id.in_(account_ids),
            TRANSFERS.c.credit_account_id.in_(account_ids),
        ),
    ]


def fee_sums(
    session: Session, merchant_id: str, fee_code: str, sources: list[str]
) -> dict[str, int]:
    """The fee transfers' amounts per source, summed."""
    fees: dict[str, int] = {}
    for src, amount in session.execute(
        select(TRANSFERS.c.source, TRANSFERS.c.amount).where(
            TRANSFERS.c.merchant_id == merchant_id,
            TRANSFERS.c.code == fee_code,
            TRANSFERS.c.source.in_(sources),
        )
    ):
        fees[src] = fees.get(src, 0) + amount
    return fees


def balance_transfers(
    session: Session,
    merchant_id: str,
    account_ids: list[str],
    page: PageRequest,
    *,
    fee_code: str,
    code: str | None = None,
    not_codes: list[str] | None = None,
    source: str | None = None,
    transfer_ids: list[str] | None = None,
) -> Page[LedgerTransfer]:
    """A page of the balance transactions' transfers (the cursor is a ``txn_id``),
    optionally of one ``code``, of none of ``not_codes``, of one ``source``, or among
    ``transfer_ids`` (what a payout contains)."""
    conds = _balance_conditions(account_ids, fee_code)
    if not_codes is not None:
        conds.append(TRANSFERS.c.code.not_in(not_codes))
    if code is not None:
        conds.append(TRANSFERS.c.code == code)
    if source is not None:
        conds.append(TRANSFERS.c.source == source)
    if transfer_ids is not None:
        conds.append(TRANSFERS.c.id.in_(transfer_ids))
    return paginate(
        session,
        LedgerTransfer,
        merchant_id,
        page,
        conds,
        cursor_column=LedgerTransfer.txn_id,
        noun="balance transaction",
    )


def balance_transfer_row(
    session: Session, merchant_id: str, account_ids: list[str], fee_code: str, txn_id: str
) -> Any | None:
    """The balance transaction ``txn_id``'s transfer (``transfer_columns`` row), if it is one."""
    return session.execute(
        select(*transfer_columns()).where(
            TRANSFERS.c.merchant_id == merchant_id,
            *_balance_conditions(account_ids, fee_code),
            TRANSFERS.c.txn_id == txn_id,
        )
    ).first()
