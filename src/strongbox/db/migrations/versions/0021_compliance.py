"""compliance: signed reports of the PCI DSS self-checks, recorded vulnerability scans

Revision ID: 0021
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "compliance_reports",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("not_applicable", sa.Integer(), nullable=False),
        sa.Column("results", _json(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_compliance_reports")),
        sa.UniqueConstraint("id", name=op.f("uq_compliance_reports_id")),
    )
    op.create_index(
        "ix_compliance_reports_merchant_seq", "compliance_reports", ["merchant_id", "seq"]
    )
    op.create_table(
        "compliance_scans",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("dependencies", sa.Integer(), nullable=False),
        sa.Column("vulnerable", sa.Integer(), nullable=False),
        sa.Column("findings", _json(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_compliance_scans")),
        sa.UniqueConstraint("id", name=op.f("uq_compliance_scans_id")),
    )
    op.create_index("ix_compliance_scans_created", "compliance_scans", ["created"])


def downgrade() -> None:
    op.drop_index("ix_compliance_scans_created", table_name="compliance_scans")
    op.drop_table("compliance_scans")
    op.drop_index("ix_compliance_reports_merchant_seq", table_name="compliance_reports")
    op.drop_table("compliance_reports")
