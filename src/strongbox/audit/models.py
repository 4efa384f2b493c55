"""Audit tables: entries (the leaves), stored subtree nodes, the tree state, heads, archives."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One audit leaf. Written in the transaction of the change it records (``leaf_index``
    NULL); the integrator later gives it the next tree index and its leaf hash.

    ``seq`` is write order (used for pagination and for the order of integration);
    ``leaf_index`` is the position in the Merkle tree. ``merchant_id`` is NULL for
    system-wide entries (key operations, configuration), which no merchant key can read.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_merchant_seq", "merchant_id", "seq"),
        Index(
            "ix_audit_entries_pending",
            "seq",
            postgresql_where=text("leaf_index IS NULL"),
            sqlite_where=text("leaf_index IS NULL"),
        ),
        Index("ix_audit_entries_created", "created"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    leaf_index: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    leaf_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created: Mapped[datetime]
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str | None] = mapped_column(String(50))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(64))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    before_digest: Mapped[str | None] = mapped_column(String(64))
    after_digest: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(64))


class AuditNode(Base):
    """A perfect subtree hash: level >= 1 for every completed subtree; level 0 only for
    leaves whose entries were archived (live leaves keep theirs on ``audit_entries``)."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTree(Base):
    """The integrated tree: its size and compact range (one row, ``id = 1``)."""

    __tablename__ = "audit_tree"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    compact: Mapped[bytes] = mapped_column(LargeBinary)
    updated: Mapped[datetime]


class AuditTreeHead(Base):
    """A signed tree head (also appended to the external head file)."""

    __tablename__ = "audit_tree_heads"
    __table_args__ = (Index("ix_audit_tree_heads_size", "tree_size"),)

    seq: Mapped[int] = seq_column()
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class AuditArchive(Base):
    """Leaves ``[first_index, end_index)`` moved to a compressed file (retention)."""

    __tablename__ = "audit_archives"

    seq: Mapped[int] = seq_column()
    first_index: Mapped[int] = mapped_column(BigInteger)
    end_index: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    compact: Mapped[bytes] = mapped_column(LargeBinary)  # compact range of [0, end_index)
    head_size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime]
    until: Mapped[datetime]  # every archived entry is older than this
