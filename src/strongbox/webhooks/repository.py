"""All webhook queries. Tenant reads filter by merchant; the worker claims are system work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import (
    Row,
    String,
    Table,
    bindparam,
    exists,
    func,
    insert,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased, load_only

from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.events.models import OutboxEvent, ProcessedEvent
from strongbox.webhooks.models import (
    FanoutCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

FANOUT_CONSUMER = "webhooks.fanout"


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# ---------------------------------------------------------------- endpoints


def get_endpoint(
    session: Session, merchant_id: str, endpoint_id: str, *, lock: bool = False
) -> WebhookEndpoint | None:
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.id == endpoint_id
    )
    if lock and _pg(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def list_endpoints(
    session: Session, merchant_id: str, page: PageRequest, created: dict[str, int] | None = None
) -> Page[WebhookEndpoint]:
    return paginate(session, WebhookEndpoint, merchant_id, page, created=created)


def enabled_endpoints(session: Session, merchant_id: str) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.status == "enabled")
            .order_by(WebhookEndpoint.seq)
        )
    )


# ---------------------------------------------------------------- deliveries and attempts


def get_delivery(
    session: Session, merchant_id: str, endpoint_id: str, event_id: str
) -> WebhookDelivery | None:
    return session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.merchant_id == merchant_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.event_id == event_id,
        )
    ).first()


def list_attempts(
    session: Session,
    merchant_id: str,
    endpoint_id: str,
    page: PageRequest,
    event_id: str | None,
    created: dict[str, int] | None = None,
) -> Page[WebhookAttempt]:
    conds: list[Any] = [WebhookAttempt.endpoint_id == endpoint_id]
    if event_id:
        conds.append(WebhookAttempt.event_id == event_id)
    return paginate(session, WebhookAttempt, merchant_id, page, conds, created=created)


def list_deliveries(
    session: Session,
    merchant_id: str,
    endpoint_id: str,
    page: PageRequest,
    created: dict[str, int] | None = None,
) -> Page[WebhookDelivery]:
    conds = [WebhookDelivery.endpoint_id == endpoint_id]
    return paginate(session, WebhookDelivery, merchant_id, page, conds, created=created)


def claim_endpoints(
    session: Session, now: datetime, until: datetime, limit: int, exclude: set[str]
) -> list[WebhookEndpoint]:
    """Enabled endpoints with due deliveries that no worker holds; held until ``until``."""
    due = exists().where(
        WebhookDelivery.endpoint_id == WebhookEndpoint.id,
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
    )
    stmt = (
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.status == "enabled",
            (WebhookEndpoint.claimed_until.is_(None)) | (WebhookEndpoint.claimed_until < now),
            due,
        )
        .order_by(WebhookEndpoint.claimed_until.nulls_first(), WebhookEndpoint.seq)
        .limit(limit)
    )
    if exclude:
        stmt = stmt.where(WebhookEndpoint.id.not_in(exclude))
    if _pg(session):
        stmt = stmt.with_for_update(skip_locked=True, of=WebhookEndpoint)
    rows = list(session.scalars(stmt))
    if rows:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_([r.id for r in rows]))
            .values(claimed_until=until)
        )
    return rows


# Endpoints per SQLite statement (SQLite allows 500 terms in a compound SELECT).
_SQLITE_UNION = 200


def due_deliveries(
    session: Session, endpoint_ids: list[str], now: datetime, limit: int
) -> dict[str, list[Row[Any]]]:
    """Each endpoint's first ``limit`` due deliveries in event order, with their events, in
    one statement: a LATERAL subquery per endpoint on PostgreSQL, a ``UNION ALL`` of one
    ``ORDER BY … LIMIT`` per endpoint on SQLite (up to ``_SQLITE_UNION`` endpoints per
    statement). Either way each endpoint's part reads its pending deliveries in event order
    and stops after ``limit`` due ones, however long its backlog (pending rows not yet due at
    the head of it are read past). Not locked: the claimed endpoint is what keeps other
    workers away from its deliveries.

    Rows, not ORM objects: ``delivery_id``, ``endpoint_id``, ``merchant_id``, ``generation``,
    ``attempts``, ``manual`` of the delivery, and the event's ``id``, ``type``, ``created``,
    ``data``, ``request_id``, ``idempotency_key`` (what ``render_event`` reads)."""
    out: dict[str, list[Row[Any]]] = {e: [] for e in endpoint_ids}
    if not endpoint_ids:
        return out
    due = (
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
    )
    froms: list[Any] = []
    if _pg(session):
        ids = (
            func.unnest(bindparam("endpoint_ids", endpoint_ids, type_=ARRAY(String)))
            .table_valued("id")
            .render_derived(name="e")
        )
        per_endpoint = (
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == ids.c.id, *due)
            .order_by(WebhookDelivery.event_seq)
            .limit(limit)
            .lateral("d")
        )
        froms.append((aliased(WebhookDelivery, per_endpoint), ids, per_endpoint))
    else:
        for start in range(0, len(endpoint_ids), _SQLITE_UNION):
            parts = [
                select(
                    select(WebhookDelivery.__table__)
                    .where(WebhookDelivery.endpoint_id == e, *due)
                    .order_by(WebhookDelivery.event_seq)
                    .limit(limit)
                    .subquery()
                )
                for e in endpoint_ids[start : start + _SQLITE_UNION]
            ]
            union = union_all(*parts).subquery("d")
            froms.append((aliased(WebhookDelivery, union), union, None))
    for d, first, lateral in froms:
        stmt = select(
            d.id.label("delivery_id"),
            d.endpoint_id,
            d.merchant_id,
            d.generation,
            d.attempts,
            d.manual,
            OutboxEvent.id,
            OutboxEvent.type,
            OutboxEvent.created,
            OutboxEvent.data,
            OutboxEvent.request_id,
            OutboxEvent.idempotency_key,
        ).select_from(first)
        if lateral is not None:
            stmt = stmt.join(lateral, true())
        stmt = stmt.join(OutboxEvent, OutboxEvent.id == d.event_id).order_by(
            d.endpoint_id, d.event_seq
        )
        for row in session.execute(stmt):
            out[row.endpoint_id].append(row)
    return out


def existing_pairs(session: Session, event_ids: list[str]) -> set[tuple[str, str]]:
    """(endpoint, event) pairs that already have a delivery (e.g. a manual redelivery)."""
    if not event_ids:
        return set()
    rows = session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
            WebhookDelivery.event_id.in_(event_ids)
        )
    )
    return {(r[0], r[1]) for r in rows}


def delivery_states(session: Session, ids: list[str]) -> dict[str, tuple[int, str]]:
    """(generation, status) of each delivery, in one statement."""
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.generation, WebhookDelivery.status).where(
            WebhookDelivery.id.in_(ids)
        )
    )
    return {r[0]: (int(r[1]), str(r[2])) for r in rows}


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    id: str
    generation: int  # written only if the delivery is still pending in this generation
    status: str
    attempts: int
    next_attempt_at: datetime | None
    completed_at: datetime | None
    last_status_code: int | None


_PG_UPDATE_DELIVERIES = text(
    "UPDATE webhook_deliveries AS d SET status = v.status, attempts = v.attempts, "
    "next_attempt_at = v.next_at, completed_at = v.completed_at, "
    "last_status_code = v.code, manual = false, updated = :now "
    "FROM unnest(CAST(:ids AS varchar[]), CAST(:generations AS integer[]), "
    "CAST(:statuses AS varchar[]), CAST(:attempts AS integer[]), "
    "CAST(:next_ats AS timestamptz[]), CAST(:completed AS timestamptz[]), "
    "CAST(:codes AS integer[])) "
    "AS v(id, generation, status, attempts, next_at, completed_at, code) "
    "WHERE d.id = v.id AND d.generation = v.generation AND d.status = 'pending' "
    "RETURNING d.id"
)
_DELIVERIES: Final = cast(Table, WebhookDelivery.__table__)
_ATTEMPTS: Final = cast(Table, WebhookAttempt.__table__)
_SQLITE_UPDATE_DELIVERIES = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next_at"),
        completed_at=bindparam("b_completed_at"),
        last_status_code=bindparam("b_code"),
        manual=False,
        updated=bindparam("b_now"),
    )
)


def update_current_deliveries(
    session: Session, rows: list[DeliveryUpdate], now: datetime
) -> set[str]:
    """Move on those of a batch's deliveries that are still pending in the generation
    given; returns their ids. PostgreSQL: one ``UPDATE … FROM unnest … RETURNING`` (the
    comparison is in the statement). SQLite: one read of the states, then one prepared
    statement run per current row, in process (the write gate keeps both in one step)."""
    if not rows:
        return set()
    if _pg(session):
        updated = session.execute(
            _PG_UPDATE_DELIVERIES,
            {
                "now": now,
                "ids": [r.id for r in rows],
                "generations": [r.generation for r in rows],
                "statuses": [r.status for r in rows],
                "attempts": [r.attempts for r in rows],
                "next_ats": [r.next_attempt_at for r in rows],
                "completed": [r.completed_at for r in rows],
                "codes": [r.last_status_code for r in rows],
            },
        )
        return {str(i) for i in updated.scalars()}
    states = delivery_states(session, [r.id for r in rows])
    current = [r for r in rows if states.get(r.id) == (r.generation, "pending")]
    if current:
        session.execute(
            _SQLITE_UPDATE_DELIVERIES,
            [
                {
                    "b_id": r.id,
                    "b_status": r.status,
                    "b_attempts": r.attempts,
                    "b_next_at": r.next_attempt_at,
                    "b_completed_at": r.completed_at,
                    "b_code": r.last_status_code,
                    "b_now": now,
                }
                for r in current
            ],
        )
    return {r.id for r in current}


_INSERT_ATTEMPTS: Final = insert(_ATTEMPTS).returning(_ATTEMPTS.c.seq)


def insert_attempts(session: Session, rows: list[dict[str, Any]]) -> None:
    """A batch of attempt rows in one multi-row ``INSERT`` (SQLAlchemy's "insertmanyvalues":
    ``RETURNING`` makes it one statement per 1,000 rows, compiled once per process)."""
    if rows:
        session.execute(_INSERT_ATTEMPTS, rows)


def cancel_pending_deliveries(
    session: Session, merchant_id: str, endpoint_id: str, now: datetime
) -> None:
    """An endpoint is going away: its undelivered deliveries will never be sent."""
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.merchant_id == merchant_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == "pending",
        )
        .values(status="canceled", next_attempt_at=None, updated=now)
    )


def release_endpoints(session: Session, ids: list[str], until: datetime | None = None) -> None:
    """Let workers claim the endpoints again (from ``until``, if given: a back-off)."""
    if ids:
        session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids)).values(claimed_until=until)
        )


def endpoints_by_id(
    session: Session, ids: list[str], *, lock: bool = False
) -> dict[str, WebhookEndpoint]:
    """Locked (PostgreSQL) in id order: endpoint before its deliveries, everywhere, so
    the worker and the API never wait on each other in opposite orders."""
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids)).order_by(WebhookEndpoint.id)
    if lock and _pg(session):
        stmt = stmt.with_for_update()
    return {r.id: r for r in session.scalars(stmt)}


# ---------------------------------------------------------------- fan-out


def lock_cursor(session: Session, now: datetime) -> FanoutCursor:
    """The fan-out cursor, locked (PostgreSQL) so one fan-out runs at a time."""
    stmt = select(FanoutCursor).where(FanoutCursor.name == "default")
    if _pg(session):
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        if _pg(session):
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            session.execute(
                pg_insert(FanoutCursor)
                .values(name="default", seq=0, updated=now)
                .on_conflict_do_nothing()
            )
        else:
            session.add(FanoutCursor(name="default", seq=0, updated=now))
        session.flush()
        row = session.scalars(stmt).one()
    return row


def unprocessed_events(session: Session, after_seq: int, limit: int) -> list[OutboxEvent]:
    """The next events to fan out, without their payloads: fan-out needs only id, seq,
    merchant, type and time (a delivery renders the payload when it is sent), and decoding
    every payload was most of the fan-out's JSON time under load."""
    done = exists().where(
        ProcessedEvent.consumer == FANOUT_CONSUMER, ProcessedEvent.event_id == OutboxEvent.id
    )
    return list(
        session.scalars(
            select(OutboxEvent)
            .options(
                load_only(
                    OutboxEvent.id,
                    OutboxEvent.seq,
                    OutboxEvent.merchant_id,
                    OutboxEvent.type,
                    OutboxEvent.created,
                )
            )
            .where(OutboxEvent.seq > after_seq, ~done)
            .order_by(OutboxEvent.seq)
            .limit(limit)
        )
    )


def safe_cursor(session: Session, after_seq: int, older_than: datetime) -> int:
    """The highest seq such that every event up to it is processed and old enough that no
    transaction still in flight can commit an event below it."""
    done = exists().where(
        ProcessedEvent.consumer == FANOUT_CONSUMER, ProcessedEvent.event_id == OutboxEvent.id
    )
    first_open = session.scalar(
        select(func.min(OutboxEvent.seq)).where(OutboxEvent.seq > after_seq, ~done)
    )
    conds: list[Any] = [OutboxEvent.seq > after_seq, OutboxEvent.created < older_than]
    if first_open is not None:
        conds.append(OutboxEvent.seq < first_open)
    top = session.scalar(select(func.max(OutboxEvent.seq)).where(*conds))
    return int(top) if top is not None else after_seq
