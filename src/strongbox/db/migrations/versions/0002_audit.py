"""audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 08:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGSEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", BIGSEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=True),
        sa.Column("resource_id", sa.String(length=255), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("before_digest", sa.String(length=64), nullable=True),
        sa.Column("after_digest", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_entries_id")),
        sa.UniqueConstraint("leaf_index", name=op.f("uq_audit_entries_leaf_index")),
    )
    op.create_index("ix_audit_entries_merchant_seq", "audit_entries", ["merchant_id", "seq"])
    op.create_index(
        "ix_audit_entries_pending",
        "audit_entries",
        ["seq"],
        postgresql_where=sa.text("leaf_index IS NULL"),
        sqlite_where=sa.text("leaf_index IS NULL"),
    )
    op.create_index("ix_audit_entries_created", "audit_entries", ["created"])
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_nodes")),
    )
    op.create_table(
        "audit_tree",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("compact", sa.LargeBinary(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_tree")),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("seq", BIGSEQ, autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_tree_heads")),
    )
    op.create_index("ix_audit_tree_heads_size", "audit_tree_heads", ["tree_size"])
    op.create_table(
        "audit_archives",
        sa.Column("seq", BIGSEQ, autoincrement=True, nullable=False),
        sa.Column("first_index", sa.BigInteger(), nullable=False),
        sa.Column("end_index", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("compact", sa.LargeBinary(), nullable=False),
        sa.Column("head_size", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_archives")),
    )


def downgrade() -> None:
    op.drop_table("audit_archives")
    op.drop_index("ix_audit_tree_heads_size", table_name="audit_tree_heads")
    op.drop_table("audit_tree_heads")
    op.drop_table("audit_tree")
    op.drop_table("audit_nodes")
    op.drop_index("ix_audit_entries_created", table_name="audit_entries")
    op.drop_index("ix_audit_entries_pending", table_name="audit_entries")
    op.drop_index("ix_audit_entries_merchant_seq", table_name="audit_entries")
    op.drop_table("audit_entries")
