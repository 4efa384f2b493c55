from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from strongbox.idempotency.models import IdempotencyKey

# Core statements on the table (not ORM-enabled ones): this row is written on every keyed
# request, and the ORM's bulk insert/update machinery costs more than the statement itself.
_table: Table = IdempotencyKey.__table__  # type: ignore[assignment]


def _insert_if_absent(ins: Any) -> Any:
    return (
        ins(_table)
        .on_conflict_do_nothing(index_elements=["merchant_id", "key"])
        .returning(_table.c.id)
    )


# Built once, bound per call (building a statement costs about as much CPU as running it).
_INSERT_IF_ABSENT = {
    "postgresql": _insert_if_absent(postgresql.insert),
    "sqlite": _insert_if_absent(sqlite.insert),
}
_UPDATE_BY_ID = update(_table).where(_table.c.id == bindparam("b_id"))


def insert_if_absent(session: Session, row: dict[str, object]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True if this call inserted the row."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_IF_ABSENT["postgresql" if dialect == "postgresql" else "sqlite"]
    return session.connection().execute(stmt, row).scalar() is not None


def get_locked(session: Session, merchant_id: str, key: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(
        IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def peek(session: Session, merchant_id: str, key: str) -> Any:
    """The key's recovery point and lock time, without locking (None: no such key)."""
    stmt = select(_table.c.recovery_point, _table.c.locked_at).where(
        _table.c.merchant_id == merchant_id, _table.c.key == key
    )
    return session.connection().execute(stmt).first()


def get_by_id(session: Session, record_id: str) -> IdempotencyKey | None:
    return session.scalars(select(IdempotencyKey).where(IdempotencyKey.id == record_id)).first()


def set_fields(session: Session, record_id: str, **values: object) -> None:
    session.connection().execute(_UPDATE_BY_ID, {"b_id": record_id, **values})


def delete_expired(session: Session, cutoff: datetime, lock_cutoff: datetime) -> int:
    """Remove keys older than the TTL, except ones whose gateway work is still unresolved."""
    result = session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.created < cutoff,
            or_(
                IdempotencyKey.recovery_point != "attempt_created",
                and_(
                    IdempotencyKey.locked_at.is_not(None),
                    IdempotencyKey.locked_at < lock_cutoff,
                    IdempotencyKey.response_status.is_not(None),
                ),
            ),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
