from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from strongbox.db.sql import Sql
from strongbox.db.uow import UnitOfWork
from strongbox.idempotency.models import IdempotencyKey

# Core statements on the table (not ORM-enabled ones): this row is written on every keyed
# request, and the ORM's bulk insert/update machinery costs more than the statement itself.
_table: Table = IdempotencyKey.__table__  # type: ignore[assignment]


_KEYS = (
    "id",
    "merchant_id",
    "key",
    "request_method",
    "request_path",
    "request_fingerprint",
    "recovery_point",
    "locked_at",
    "response_status",
    "response_body",
    "request_id",
    "created",
    "last_used_at",
)


def _insert_if_absent(ins: Any) -> Sql:
    stmt = (
        ins(_table)
        .on_conflict_do_nothing(index_elements=["merchant_id", "key"])
        .returning(_table.c.id)
    )
    return Sql(stmt, keys=_KEYS)


# Built once, run on the driver connection (db/sql.py): this row is written on every keyed
# request.
_INSERT_IF_ABSENT = {
    "postgresql": _insert_if_absent(postgresql.insert),
    "sqlite": _insert_if_absent(sqlite.insert),
}
_SET_RECOVERY_POINT = Sql(
    update(_table)
    .where(_table.c.id == bindparam("b_id"))
    .values(recovery_point=bindparam("recovery_point"))
)
_STORE_RESPONSE = Sql(
    update(_table)
    .where(_table.c.id == bindparam("b_id"))
    .values(
        recovery_point=bindparam("recovery_point"),
        response_status=bindparam("response_status"),
        response_body=bindparam("response_body"),
        locked_at=None,
        last_used_at=bindparam("last_used_at"),
    )
)


def insert_if_absent(uow: UnitOfWork, row: dict[str, object]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True if this call inserted the row."""
    stmt = _INSERT_IF_ABSENT["postgresql" if uow.dialect == "postgresql" else "sqlite"]
    return uow.fetchone(stmt, row) is not None


def set_recovery_point(uow: UnitOfWork, record_id: str, point: str) -> None:
    uow.queue(_SET_RECOVERY_POINT, {"b_id": record_id, "recovery_point": point})


def set_response(
    uow: UnitOfWork, record_id: str, point: str, status: int, body: str, when: datetime
) -> None:
    """The response stored on the key (queued with the transaction's other writes)."""
    uow.queue(
        _STORE_RESPONSE,
        {
            "b_id": record_id,
            "recovery_point": point,
            "response_status": status,
            "response_body": body,
            "last_used_at": when,
        },
    )


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
