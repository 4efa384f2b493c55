from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.db.sql import Sql
from strongbox.db.uow import UnitOfWork
from strongbox.events.models import OutboxEvent, ProcessedEvent

_OUTBOX: Any = OutboxEvent.__table__
_OUTBOX_KEYS = (
    "id",
    "merchant_id",
    "type",
    "resource_type",
    "resource_id",
    "data",
    "request_id",
    "idempotency_key",
    "created",
)
_INSERT_OUTBOX = Sql(insert(_OUTBOX), keys=_OUTBOX_KEYS)


def add_to_outbox(uow: UnitOfWork, row: dict[str, Any]) -> None:
    """One committed event for the relay and ``/v1/events``: a prebuilt INSERT queued with
    the transaction's other writes (unpublished, unclaimed)."""
    uow.queue(_INSERT_OUTBOX, row)


def get_event(session: Session, merchant_id: str, event_id: str) -> OutboxEvent | None:
    return session.scalars(
        select(OutboxEvent).where(
            OutboxEvent.merchant_id == merchant_id, OutboxEvent.id == event_id
        )
    ).first()


def list_events(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    types: list[str] | None = None,
    created: dict[str, int] | None = None,
) -> Page[OutboxEvent]:
    conds: list[Any] = []
    if types:
        exact = [t for t in types if "*" not in t]
        wild = [t.replace("*", "%") for t in types if "*" in t]
        conds.append(or_(OutboxEvent.type.in_(exact), *[OutboxEvent.type.like(w) for w in wild]))
    return paginate(session, OutboxEvent, merchant_id, page, conds, created=created)


def claim_unpublished(
    session: Session, now: datetime, *, limit: int, lease: timedelta
) -> list[Any]:
    """The oldest unpublished, unleased events (rows with the outbox's columns, not ORM
    objects: a relay pass reads thousands), leased for ``lease``."""
    c = _OUTBOX.c
    stmt = (
        select(_OUTBOX)
        .where(c.published_at.is_(None), or_(c.claimed_until.is_(None), c.claimed_until < now))
        .order_by(c.seq)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.execute(stmt))
    if rows:
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq.in_([r.seq for r in rows]))
            .values(claimed_until=now + lease)
        )
    return rows


def mark_published(session: Session, seqs: list[int], now: datetime) -> None:
    if seqs:
        session.execute(
            update(OutboxEvent)
            .where(and_(OutboxEvent.seq.in_(seqs), OutboxEvent.published_at.is_(None)))
            .values(published_at=now)
        )


_PROCESSED = cast(Table, ProcessedEvent.__table__)


def _insert_processed(ins: Any) -> Any:
    return (
        ins(_PROCESSED)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(_PROCESSED.c.consumer)
    )


# One statement per event instead of a lookup, an ORM add and a flush; built once.
_INSERT_PROCESSED = {
    "postgresql": _insert_processed(postgresql.insert),
    "sqlite": _insert_processed(sqlite.insert),
}


def release_claims(session: Session, seqs: list[int]) -> None:
    """Give claimed, unpublished events back at once (a publish that failed part-way), so
    the next pass publishes them first and a merchant's events keep their order."""
    if seqs:
        session.execute(
            update(OutboxEvent)
            .where(and_(OutboxEvent.seq.in_(seqs), OutboxEvent.published_at.is_(None)))
            .values(claimed_until=None)
        )


def oldest_unpublished(session: Session) -> datetime | None:
    """When the oldest event the relay has not published was committed (relay lag)."""
    return session.scalar(
        select(OutboxEvent.created)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.seq)
        .limit(1)
    )


_CLAIM_PROCESSED = {
    name: ins(_PROCESSED)
    .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    .returning(_PROCESSED.c.event_id)
    for name, ins in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def claim_processed(
    session: Session, consumer: str, event_ids: list[str], now: datetime
) -> set[str]:
    """Record that ``consumer`` handles these events; the ids that were new (``INSERT … ON
    CONFLICT DO NOTHING RETURNING``, sent as multi-row batches by SQLAlchemy's
    insertmanyvalues, in the caller's transaction: a concurrent transaction recording the same
    id waits on the key, then finds it taken)."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return set()
    dialect = session.get_bind().dialect.name
    stmt = _CLAIM_PROCESSED["postgresql" if dialect == "postgresql" else "sqlite"]
    rows = [{"consumer": consumer, "event_id": e, "processed_at": now} for e in ids]
    return {str(r[0]) for r in session.execute(stmt, rows)}


def mark_processed(session: Session, consumer: str, event_id: str, now: datetime) -> bool:
    """Record that ``consumer`` handled ``event_id``; False if it already had (one
    ``INSERT … ON CONFLICT DO NOTHING``, in the caller's transaction)."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_PROCESSED["postgresql" if dialect == "postgresql" else "sqlite"]
    row = {"consumer": consumer, "event_id": event_id, "processed_at": now}
    return session.execute(stmt, row).first() is not None


_INSERT_PROCESSED_MANY = {
    "postgresql": postgresql.insert(_PROCESSED).on_conflict_do_nothing(
        index_elements=["consumer", "event_id"]
    ),
    "sqlite": sqlite.insert(_PROCESSED).on_conflict_do_nothing(
        index_elements=["consumer", "event_id"]
    ),
}


def mark_processed_many(
    session: Session, consumer: str, event_ids: list[str], now: datetime
) -> None:
    """``mark_processed`` for a batch: one multi-row ``INSERT … ON CONFLICT DO NOTHING``
    (SQLAlchemy's insertmanyvalues), not a round trip per event."""
    if not event_ids:
        return
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_PROCESSED_MANY["postgresql" if dialect == "postgresql" else "sqlite"]
    rows = [{"consumer": consumer, "event_id": e, "processed_at": now} for e in event_ids]
    session.execute(stmt, rows)
