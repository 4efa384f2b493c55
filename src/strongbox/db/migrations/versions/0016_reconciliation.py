"""reconciliation: gateway report imports and lines, runs, matches, exceptions; table seals; exchange rates

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
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


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "recon_imports",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("connector_account_id", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("already_imported", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=True),
        sa.Column("last_day", sa.String(length=10), nullable=True),
        _ts("created"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_recon_imports")),
        sa.UniqueConstraint("id", name=op.f("uq_recon_imports_id")),
        sa.UniqueConstraint(
            "merchant_id", "connector_account_id", "sha256", name="uq_recon_imports_file"
        ),
    )
    op.create_index("ix_recon_imports_merchant_seq", "recon_imports", ["merchant_id", "seq"])
    op.create_table(
        "recon_report_lines",
        _seq(),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("connector_account_id", sa.String(length=64), nullable=False),
        sa.Column("import_id", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        _ts("occurred"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("line_id", sa.String(length=128), nullable=True),
        sa.Column("refs", _json(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_recon_report_lines")),
    )
    op.create_index(
        "ix_recon_lines_day",
        "recon_report_lines",
        ["merchant_id", "connector_account_id", "day"],
    )
    op.create_table(
        "recon_runs",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("connector_account_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", _json(), nullable=True),
        sa.Column("summary", _json(), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        _ts("created"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_recon_runs")),
        sa.UniqueConstraint("id", name=op.f("uq_recon_runs_id")),
    )
    op.create_index("ix_recon_runs_merchant_seq", "recon_runs", ["merchant_id", "seq"])
    op.create_index(
        "ix_recon_runs_day", "recon_runs", ["merchant_id", "connector_account_id", "day"]
    )
    op.create_table(
        "recon_matches",
        _seq(),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("connector_account_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("line_key", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_recon_matches")),
    )
    op.create_index(
        "ix_recon_matches_object",
        "recon_matches",
        ["merchant_id", "connector_account_id", "object_id"],
    )
    op.create_index("ix_recon_matches_run", "recon_matches", ["run_id"])
    op.create_table(
        "recon_exceptions",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("connector_account_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("line_key", sa.String(length=80), nullable=True),
        sa.Column("gateway_line_id", sa.String(length=128), nullable=True),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gateway_currency", sa.String(length=3), nullable=True),
        sa.Column("strongbox_amount", sa.BigInteger(), nullable=True),
        sa.Column("gateway_amount", sa.BigInteger(), nullable=True),
        sa.Column("strongbox_fee", sa.BigInteger(), nullable=True),
        sa.Column("gateway_fee", sa.BigInteger(), nullable=True),
        sa.Column("resolution", _json(), nullable=True),
        _ts("created"),
        _ts("updated"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_recon_exceptions")),
        sa.UniqueConstraint("id", name=op.f("uq_recon_exceptions_id")),
        sa.UniqueConstraint(
            "merchant_id", "connector_account_id", "fingerprint", name="uq_recon_exceptions_key"
        ),
    )
    op.create_index("ix_recon_exceptions_merchant_seq", "recon_exceptions", ["merchant_id", "seq"])
    op.create_index(
        "ix_recon_exceptions_day",
        "recon_exceptions",
        ["merchant_id", "connector_account_id", "day"],
    )
    op.create_table(
        "integrity_seals",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        _ts("sealed_at"),
        sa.Column("digests", _json(), nullable=False),
        sa.Column("previous_chain", sa.String(length=64), nullable=True),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_integrity_seals")),
        sa.UniqueConstraint("id", name=op.f("uq_integrity_seals_id")),
    )
    op.create_table(
        "fx_rates",
        _seq(),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        _ts("loaded"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_fx_rates")),
        sa.UniqueConstraint("source", "day", "currency", name="uq_fx_rates_day"),
    )
    op.create_index("ix_fx_rates_latest", "fx_rates", ["source", "day"])


def downgrade() -> None:
    for table in (
        "fx_rates",
        "integrity_seals",
        "recon_exceptions",
        "recon_matches",
        "recon_runs",
        "recon_report_lines",
        "recon_imports",
    ):
        op.drop_table(table)
