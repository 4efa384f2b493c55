"""All audit queries: the API's reads (tenant reads filter by ``merchant_id``) and the log's
own system work (recording, integration, signed heads, verification, retention), which spans
every merchant.

Statements on the hot path are built once (``_PG_SEQUENCE``, the pending-entry columns).
The node store (``tree.DbNodeStore``) keeps its own node reads and the integrator's node
writes, behind the ``NodeStore`` interface the tree reads through; retention's re-insert of the
nodes it keeps (``insert_nodes``) is here.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from strongbox.audit.models import AuditArchive, AuditEntry, AuditNode, AuditTree, AuditTreeHead
from strongbox.db import records
from strongbox.db.pagination import Page, PageRequest, paginate

ENTRIES: Final = cast(Table, AuditEntry.__table__)
NODES: Final = cast(Table, AuditNode.__table__)

# --------------------------------------------------------------------- the API's reads


def list_entries(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    created: dict[str, int] | None,
    actor: str | None,
    action: str | None,
    resource: str | None,
    resource_type: str | None,
) -> Page[AuditEntry]:
    conds: list[Any] = []
    if actor:
        conds.append(AuditEntry.actor == actor)
    if action:
        if action.endswith("*"):
            prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(AuditEntry.action.like(prefix + "%", escape="\\"))
        else:
            conds.append(AuditEntry.action == action)
    if resource:
        conds.append(AuditEntry.resource_id == resource)
    if resource_type:
        conds.append(AuditEntry.resource_type == resource_type)
    return paginate(session, AuditEntry, merchant_id, page, conds, created=created)


def entry_at(session: Session, merchant_id: str, index: int) -> AuditEntry | None:
    return session.scalars(
        select(AuditEntry).where(
            AuditEntry.merchant_id == merchant_id, AuditEntry.leaf_index == index
        )
    ).first()


# --------------------------------------------------------------------- entries


ENTRY_COLUMNS: Final = (
    "id",
    "created",
    "merchant_id",
    "actor",
    "action",
    "resource_type",
    "resource_id",
    "request_id",
    "source_ip",
    "outcome",
    "before_digest",
    "after_digest",
    "event_id",
)
_entry_values = operator.itemgetter(*ENTRY_COLUMNS)
_sqlite_rest = operator.itemgetter(*ENTRY_COLUMNS[2:])  # after id and created
_COLS = ", ".join(ENTRY_COLUMNS)
_PG_INSERT_ENTRY = (
    f"INSERT INTO audit_entries ({_COLS}) VALUES ({', '.join(['%s'] * len(ENTRY_COLUMNS))})"  # noqa: S608  # nosec B608 - constant names
)
_PG_COPY_ENTRIES = f"COPY audit_entries ({_COLS}) FROM STDIN"
_SQLITE_INSERT_ENTRY = (
    f"INSERT INTO audit_entries ({_COLS}) VALUES ({', '.join(['?'] * len(ENTRY_COLUMNS))})"  # noqa: S608  # nosec B608 - constant names
)
COPY_MIN_ROWS: Final = 16
"""From this many rows a PostgreSQL batch is written with ``COPY`` (one round trip more than
an INSERT, but several times cheaper per row for both psycopg and the server)."""


def _driver_connection(session: Session) -> Any:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    return raw


def sqlite_time(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy's SQLite dialect stores it (``UTCDateTime`` keeps naive
    UTC there): ``YYYY-MM-DD HH:MM:SS.ffffff``, so every reader parses it alike (tested)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


#: A unit of work's entries written with its other writes at commit (``db/records.Batch``: one
#: multi-row INSERT, in the commit's pipeline on PostgreSQL).
ENTRY_BATCH: Final = records.Batch(
    ENTRIES,
    (
        "id",
        "created",
        "merchant_id",
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "request_id",
        "source_ip",
        "outcome",
        "before_digest",
        "after_digest",
        "event_id",
    ),
)


def insert_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    """The entries a unit of work recorded, in one statement of plain tuples (no per-row
    SQLAlchemy parameter processing): on PostgreSQL a prebuilt INSERT (a pipelined
    executemany for a few rows) or ``COPY`` for many; on SQLite one executemany."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(
            _SQLITE_INSERT_ENTRY,
            [(r["id"], sqlite_time(r["created"]), *_sqlite_rest(r)) for r in rows],
        )
    elif len(rows) == 1:
        conn.exec_driver_sql(_PG_INSERT_ENTRY, _entry_values(rows[0]))
    elif len(rows) < COPY_MIN_ROWS:
        conn.exec_driver_sql(_PG_INSERT_ENTRY, [_entry_values(r) for r in rows])
    else:
        with _driver_connection(session).cursor() as cur, cur.copy(_PG_COPY_ENTRIES) as copy:
            write = copy.write_row
            for r in rows:
                write(_entry_values(r))


PENDING_COLUMNS: Final = (
    ENTRIES.c.seq,
    ENTRIES.c.id,
    ENTRIES.c.created,
    ENTRIES.c.actor,
    ENTRIES.c.action,
    ENTRIES.c.resource_type,
    ENTRIES.c.resource_id,
    ENTRIES.c.merchant_id,
    ENTRIES.c.request_id,
    ENTRIES.c.source_ip,
    ENTRIES.c.outcome,
    ENTRIES.c.before_digest,
    ENTRIES.c.after_digest,
    ENTRIES.c.event_id,
)
_PENDING = (
    select(*PENDING_COLUMNS)
    .where(ENTRIES.c.leaf_index.is_(None))
    .order_by(ENTRIES.c.seq)
    .limit(bindparam("n"))
)


def unsequenced_entries(session: Session, limit: int) -> Sequence[Any]:
    """Committed entries without a tree index yet, in write order (``seq``), as tuples in
    ``PENDING_COLUMNS`` order (Core rows: no ORM objects)."""
    return session.connection().execute(_PENDING, {"n": limit}).all()


# The leaf index is ``first + ordinality - 1``: one array fewer to send. The arrays go in
# binary (``%b``): psycopg's text format escapes every element in Python, about 7 times
# slower for a batch of thousands.
_PG_SEQUENCE = (
    "UPDATE audit_entries AS e SET leaf_index = %(first)s + v.n - 1, leaf_hash = v.h "
    "FROM unnest(%(seqs)b::bigint[], %(hashes)b::bytea[]) WITH ORDINALITY AS v(seq, h, n) "
    "WHERE e.seq = v.seq AND e.leaf_index IS NULL"
)
_SQLITE_SEQUENCE = "UPDATE audit_entries SET leaf_index = ?, leaf_hash = ? WHERE seq = ?"


def set_leaf_indexes(
    session: Session, dialect: str, seqs: list[int], first: int, hashes: list[bytes]
) -> None:
    """Give the entries ``seqs`` the tree indexes ``first, first + 1, …`` and their leaf
    hashes: one ``UPDATE … FROM unnest`` on PostgreSQL, one executemany on SQLite."""
    conn = session.connection()
    if dialect == "postgresql":
        conn.exec_driver_sql(_PG_SEQUENCE, {"first": first, "seqs": seqs, "hashes": hashes})
    else:
        conn.exec_driver_sql(
            _SQLITE_SEQUENCE,
            [(i, h, q) for i, (q, h) in enumerate(zip(seqs, hashes, strict=True), first)],
        )


# --- integration in PostgreSQL -------------------------------------------------------
#
# On PostgreSQL the leaves are built and hashed by the server, in the statement that gives
# the entries their indexes: no entry travels to Python, which only receives (index, hash)
# pairs to extend the compact range. The leaf is ``service.leaf_of``'s object in RFC 8785
# form: keys in sorted order, strings escaped by ``to_json`` (the escapes of ECMAScript's
# JSON.stringify: ``\"``, ``\\``, ``\b \f \n \r \t``, other controls as lowercase
# ``\u00xx``, everything else as is), null, the index as an integer, the time as
# ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. ``service.integrate`` checks the first and last
# leaf of every batch against the Python definition, and tests compare them on random text.


def _json_text(column: str) -> str:
    return f"coalesce(to_json(e.{column})::text, 'null')"


def pg_leaf_sql(fields: Sequence[str]) -> str:
    """The SQL text of the leaf of entry ``e`` at index ``p.idx`` (``fields``: the leaf's
    keys; ``sequence`` is the index, ``time`` the entry's ``created``, the rest columns)."""
    parts: list[str] = []
    for key in sorted(fields):
        if key == "sequence":
            value = "p.idx::text"
        elif key == "time":
            value = (
                "'\"' || to_char(e.created AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z\"'"
            )
        else:
            value = _json_text(key)
        parts.append(f"'{'{' if not parts else ','}\"{key}\":' || {value}")
    return " || ".join(parts) + " || '}'"


_PG_INTEGRATE: dict[tuple[str, ...], str] = {}


def sequence_pending_pg(
    session: Session, fields: Sequence[str], first: int, limit: int
) -> list[tuple[int, bytes]]:
    """Give up to ``limit`` pending entries, in write order, the indexes ``first, first +
    1, …`` and their leaf hashes, computed by PostgreSQL, in one statement. Returns the
    ``(index, leaf hash)`` pairs in index order."""
    key = tuple(fields)
    sql = _PG_INTEGRATE.get(key)
    if sql is None:
        leaf_hash = f"sha256(decode('00', 'hex') || convert_to({pg_leaf_sql(fields)}, 'UTF8'))"
        sql = _PG_INTEGRATE[key] = (
            "WITH p AS (SELECT seq, %(first)s + row_number() OVER (ORDER BY seq) - 1 AS idx "  # noqa: S608  # nosec B608
            "FROM audit_entries WHERE leaf_index IS NULL ORDER BY seq LIMIT %(n)s) "
            f"UPDATE audit_entries AS e SET leaf_index = p.idx, leaf_hash = {leaf_hash} "
            # ``e.leaf_index IS NULL`` lets the join read the pending index, not the table
            "FROM p WHERE e.seq = p.seq AND e.leaf_index IS NULL "
            "RETURNING e.leaf_index, e.leaf_hash"
        )
    got = session.connection().exec_driver_sql(sql, {"first": first, "n": limit}).all()
    return sorted((int(i), bytes(h)) for i, h in got)


def server_encoding(session: Session) -> str:
    return str(session.connection().exec_driver_sql("SHOW server_encoding").scalar())


def entries_at(session: Session, indexes: list[int]) -> Sequence[Any]:
    """Entries at these tree indexes (Core rows: the integrator's check of its leaves)."""
    return (
        session.connection().execute(select(ENTRIES).where(ENTRIES.c.leaf_index.in_(indexes))).all()
    )


def count_unsequenced(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.leaf_index.is_(None))
        )
        or 0
    )


def integrated_after(session: Session, last: int, limit: int) -> Sequence[Any]:
    """Integrated entries with an index above ``last``, in tree order (``verify``): Core
    rows with the table's column names as attributes, no ORM objects."""
    return (
        session.connection()
        .execute(
            select(ENTRIES)
            .where(ENTRIES.c.leaf_index.is_not(None), ENTRIES.c.leaf_index > last)
            .order_by(ENTRIES.c.leaf_index)
            .limit(limit)
        )
        .all()
    )


def entries_between(session: Session, last: int, end: int, limit: int) -> Sequence[AuditEntry]:
    """Entries with ``last < index < end``, in tree order (retention)."""
    return session.scalars(
        select(AuditEntry)
        .where(AuditEntry.leaf_index > last, AuditEntry.leaf_index < end)
        .order_by(AuditEntry.leaf_index)
        .limit(limit)
    ).all()


def exported_after(
    session: Session,
    tree_size: int,
    since: datetime | None,
    until: datetime | None,
    last: int,
    limit: int,
) -> Sequence[AuditEntry]:
    """Entries a head of ``tree_size`` covers, written in ``[since, until)``, with an index
    above ``last``, in tree order (export)."""
    conds: list[Any] = [
        AuditEntry.leaf_index.is_not(None),
        AuditEntry.leaf_index < tree_size,
    ]
    if since is not None:
        conds.append(AuditEntry.created >= since)
    if until is not None:
        conds.append(AuditEntry.created < until)
    return session.scalars(
        select(AuditEntry)
        .where(*conds, AuditEntry.leaf_index > last)
        .order_by(AuditEntry.leaf_index)
        .limit(limit)
    ).all()


def first_index_since(session: Session, start: int, cutoff: datetime) -> int | None:
    """The smallest index from ``start`` on of an entry written at or after ``cutoff``."""
    found = session.scalar(
        select(func.min(AuditEntry.leaf_index)).where(
            AuditEntry.leaf_index >= start, AuditEntry.created >= cutoff
        )
    )
    return None if found is None else int(found)


def delete_entries(session: Session, start: int, end: int) -> None:
    """Delete the entries with ``start <= index < end`` (archived)."""
    session.execute(
        delete(AuditEntry).where(AuditEntry.leaf_index >= start, AuditEntry.leaf_index < end)
    )


# --------------------------------------------------------------------- the tree


TREE: Final = cast(Table, AuditTree.__table__)
_TREE_ROW = select(TREE.c.size, TREE.c.compact).where(TREE.c.id == 1)
_TREE_ROW_LOCKED = _TREE_ROW.with_for_update()


def lock_tree(session: Session, dialect: str, now: datetime) -> tuple[int, bytes]:
    """The tree's size and compact range, its row locked until commit (created on first
    use). One statement once the row exists."""
    conn = session.connection()
    stmt = _TREE_ROW_LOCKED if dialect == "postgresql" else _TREE_ROW
    row = conn.execute(stmt).first()
    if row is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(
                pg_insert(TREE)
                .values(id=1, size=0, compact=b"", updated=now)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            row = conn.execute(stmt).first()
        else:  # SQLite: the write gate already serializes writers
            conn.execute(insert(TREE).values(id=1, size=0, compact=b"", updated=now))
            return 0, b""
    assert row is not None
    return int(row.size), bytes(row.compact)


def update_tree(session: Session, size: int, compact: bytes, now: datetime) -> None:
    session.connection().execute(
        update(TREE).where(TREE.c.id == 1).values(size=size, compact=compact, updated=now)
    )


def get_tree(session: Session) -> tuple[int, bytes] | None:
    """The tree's size and compact range (no lock), or None before the first integration."""
    row = session.connection().execute(_TREE_ROW).first()
    return None if row is None else (int(row.size), bytes(row.compact))


def insert_nodes(session: Session, nodes: list[dict[str, Any]], *, chunk: int = 1000) -> None:
    """Tree nodes (``level``, ``idx``, ``hash``), ``chunk`` rows per statement."""
    for i in range(0, len(nodes), chunk):
        session.execute(insert(NODES), nodes[i : i + chunk])


# --------------------------------------------------------------------- heads and archives


def latest_head(session: Session) -> AuditTreeHead | None:
    return session.scalars(
        select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc(), AuditTreeHead.seq.desc())
    ).first()


def heads_in_order(session: Session) -> Sequence[AuditTreeHead]:
    return session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.seq)).all()


def add_head(session: Session, head: AuditTreeHead) -> None:
    session.add(head)


def latest_archive(session: Session) -> AuditArchive | None:
    return session.scalars(select(AuditArchive).order_by(AuditArchive.end_index.desc())).first()


def archives_in_order(session: Session) -> Sequence[AuditArchive]:
    return session.scalars(select(AuditArchive).order_by(AuditArchive.first_index)).all()


def add_archive(session: Session, archive: AuditArchive) -> None:
    session.add(archive)
