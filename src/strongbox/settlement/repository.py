"""Settlement queries. Every one filters by merchant, except the closer's scan of due windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from strongbox.core.ids import new_id
from strongbox.settlement.models import (
    WINDOW_CLOSED,
    WINDOW_OPEN,
    SettlementBatch,
    SettlementCarry,
    SettlementEntry,
    SettlementWindow,
)

WINDOWS = cast(Table, SettlementWindow.__table__)
ENTRIES = cast(Table, SettlementEntry.__table__)
CARRIES = cast(Table, SettlementCarry.__table__)


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _locked(session: Session, stmt: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt  # SQLite: one writer at a time already


def window_locked(
    session: Session, merchant_id: str, currency: str, start: datetime, end: datetime, now: datetime
) -> SettlementWindow:
    """The window (created open if new), its row locked until the transaction ends."""
    session.execute(
        _insert(session)(WINDOWS)
        .values(
            id=new_id("settlement_window"),
            merchant_id=merchant_id,
            currency=currency,
            start=start,
            end=end,
            status=WINDOW_OPEN,
            count=0,
            late_count=0,
            gross=0,
            fees=0,
            refunds=0,
            net=0,
            created=now,
        )
        .on_conflict_do_nothing(index_elements=["merchant_id", "currency", "start"])
    )
    stmt = select(SettlementWindow).where(
        SettlementWindow.merchant_id == merchant_id,
        SettlementWindow.currency == currency,
        SettlementWindow.start == start,
    )
    w: SettlementWindow = session.scalars(
        _locked(session, stmt).execution_options(populate_existing=True)
    ).one()
    return w


def recorded_transfers(session: Session, merchant_id: str, transfer_ids: list[str]) -> set[str]:
    if not transfer_ids:
        return set()
    return set(
        session.scalars(
            select(SettlementEntry.transfer_id).where(
                SettlementEntry.merchant_id == merchant_id,
                SettlementEntry.transfer_id.in_(transfer_ids),
            )
        )
    )


def add_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(
            _insert(session)(ENTRIES).on_conflict_do_nothing(
                index_elements=["merchant_id", "transfer_id"]
            ),
            rows,
        )


def add_to_window(session: Session, window_id: str, sums: dict[str, int]) -> None:
    w = SettlementWindow
    session.execute(
        update(w)
        .where(w.id == window_id)
        .values(
            count=w.count + sums["count"],
            late_count=w.late_count + sums["late_count"],
            gross=w.gross + sums["gross"],
            fees=w.fees + sums["fees"],
            refunds=w.refunds + sums["refunds"],
            net=w.net + sums["net"],
        )
    )


def due_windows(session: Session, now: datetime, limit: int) -> list[SettlementWindow]:
    """Open windows whose end has passed, oldest first; on PostgreSQL locked, skipping those
    another closer (or a consumer adding to them) holds."""
    stmt = (
        select(SettlementWindow)
        .where(SettlementWindow.status == WINDOW_OPEN, SettlementWindow.end <= now)
        .order_by(SettlementWindow.end, SettlementWindow.seq)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def carry_locked(
    session: Session, merchant_id: str, currency: str, now: datetime
) -> SettlementCarry:
    session.execute(
        _insert(session)(CARRIES)
        .values(merchant_id=merchant_id, currency=currency, amount=0, updated=now)
        .on_conflict_do_nothing(index_elements=["merchant_id", "currency"])
    )
    stmt = select(SettlementCarry).where(
        SettlementCarry.merchant_id == merchant_id, SettlementCarry.currency == currency
    )
    c: SettlementCarry = session.scalars(
        _locked(session, stmt).execution_options(populate_existing=True)
    ).one()
    return c


def window_entries(session: Session, merchant_id: str, window_id: str) -> list[SettlementEntry]:
    return list(
        session.scalars(
            select(SettlementEntry)
            .where(
                SettlementEntry.merchant_id == merchant_id, SettlementEntry.window_id == window_id
            )
            .order_by(SettlementEntry.seq)
        )
    )


def mark_closed(session: Session, window_id: str) -> None:
    session.execute(
        update(SettlementWindow)
        .where(SettlementWindow.id == window_id)
        .values(status=WINDOW_CLOSED)
    )


def get_batch(session: Session, merchant_id: str, batch_id: str) -> SettlementBatch | None:
    return session.scalars(
        select(SettlementBatch).where(
            SettlementBatch.merchant_id == merchant_id, SettlementBatch.id == batch_id
        )
    ).first()


def batches(session: Session, merchant_id: str | None = None) -> list[SettlementBatch]:
    stmt = select(SettlementBatch).order_by(SettlementBatch.seq)
    if merchant_id is not None:
        stmt = stmt.where(SettlementBatch.merchant_id == merchant_id)
    return list(session.scalars(stmt))


def open_window_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SettlementWindow)
            .where(SettlementWindow.status == WINDOW_OPEN)
        )
        or 0
    )
