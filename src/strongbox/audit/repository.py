"""All audit queries: the API's reads (tenant reads filter by ``merchant_id``) and the log's
own system work (recording, integration, signed heads, verification, retention), which spans
every merchant.

Statements on the hot path are built once (``_PG_SEQUENCE``, the pending-entry columns).
The node store (``tree.DbNodeStore``) keeps its own node reads and the integrator's node
writes, behind the ``NodeStore`` interface the tree reads through; retention's re-insert of the
nodes it keeps (``insert_nodes``) is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from strongbox.audit.models import AuditArchive, AuditEntry, AuditNode, AuditTree, AuditTreeHead
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


def insert_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    """The entries a unit of work recorded, in one multi-row statement."""
    session.execute(insert(ENTRIES), rows)


_PENDING_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.id,
    AuditEntry.created,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.resource_type,
    AuditEntry.resource_id,
    AuditEntry.merchant_id,
    AuditEntry.request_id,
    AuditEntry.source_ip,
    AuditEntry.outcome,
    AuditEntry.before_digest,
    AuditEntry.after_digest,
    AuditEntry.event_id,
)


def unsequenced_entries(session: Session, limit: int) -> Sequence[Any]:
    """Committed entries without a tree index yet, in write order (``seq``)."""
    return session.execute(
        select(*_PENDING_COLUMNS)
        .where(AuditEntry.leaf_index.is_(None))
        .order_by(AuditEntry.seq)
        .limit(limit)
    ).all()


_PG_SEQUENCE = text(
    "UPDATE audit_entries AS e SET leaf_index = v.idx, leaf_hash = v.h "
    "FROM unnest(CAST(:seqs AS bigint[]), CAST(:idxs AS bigint[]), CAST(:hashes AS bytea[])) "
    "AS v(seq, idx, h) WHERE e.seq = v.seq"
)


def set_leaf_indexes(
    session: Session, dialect: str, seqs: list[int], indexes: list[int], hashes: list[bytes]
) -> None:
    """Give the entries ``seqs`` their tree indexes and leaf hashes."""
    if dialect == "postgresql":
        # One statement for the whole batch instead of one UPDATE per row.
        session.execute(_PG_SEQUENCE, {"seqs": seqs, "idxs": indexes, "hashes": hashes})
    else:
        session.execute(
            update(ENTRIES)
            .where(ENTRIES.c.seq == bindparam("b_seq"))
            .values(leaf_index=bindparam("b_index"), leaf_hash=bindparam("b_hash")),
            [
                {"b_seq": q, "b_index": i, "b_hash": h}
                for q, i, h in zip(seqs, indexes, hashes, strict=True)
            ],
        )


def count_unsequenced(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.leaf_index.is_(None))
        )
        or 0
    )


def integrated_after(session: Session, last: int, limit: int) -> Sequence[AuditEntry]:
    """Integrated entries with an index above ``last``, in tree order (``verify``)."""
    return session.scalars(
        select(AuditEntry)
        .where(AuditEntry.leaf_index.is_not(None), AuditEntry.leaf_index > last)
        .order_by(AuditEntry.leaf_index)
        .limit(limit)
    ).all()


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


def lock_tree(session: Session, dialect: str, now: datetime) -> AuditTree:
    """The tree row, locked until commit (created on first use)."""
    stmt = select(AuditTree).where(AuditTree.id == 1)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(
            pg_insert(AuditTree)
            .values(id=1, size=0, compact=b"", updated=now)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        stmt = stmt.with_for_update()
    tree = session.scalars(stmt).first()
    if tree is None:  # SQLite: the write gate already serializes writers
        tree = AuditTree(id=1, size=0, compact=b"", updated=now)
        session.add(tree)
        session.flush()
    return tree


def get_tree(session: Session) -> AuditTree | None:
    return session.scalars(select(AuditTree).where(AuditTree.id == 1)).first()


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
