"""merchant origins: web origins allowed to embed the hosted card fields

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01 08:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchant_origins",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_origins_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_merchant_origins")),
        sa.UniqueConstraint("id", name=op.f("uq_merchant_origins_id")),
        sa.UniqueConstraint(
            "merchant_id", "origin", name=op.f("uq_merchant_origins_merchant_id_origin")
        ),
    )
    with op.batch_alter_table("merchant_origins", schema=None) as batch_op:
        batch_op.create_index(
            "ix_merchant_origins_merchant_seq", ["merchant_id", "seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("merchant_origins", schema=None) as batch_op:
        batch_op.drop_index("ix_merchant_origins_merchant_seq")
    op.drop_table("merchant_origins")
