"""settlement: windows, entries, batches, carries; payouts and payout schedules (issue 19)

Revision ID: 0020_settlement
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020_settlement"
down_revision: str | None = "0018"
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


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def _big(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _int(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "settlement_windows",
        _seq(),
        _s("id", 64),
        _s("merchant_id", 64),
        _s("currency", 3),
        _ts("start"),
        _ts("end"),
        _s("status", 8),
        _int("count"),
        _int("late_count"),
        _big("gross"),
        _big("fees"),
        _big("refunds"),
        _big("net"),
        _ts("created"),
        sa.CheckConstraint(
            "status IN ('open', 'closed')", name=op.f("ck_settlement_windows_status_valid")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_settlement_windows")),
        sa.UniqueConstraint("id", name=op.f("uq_settlement_windows_id")),
        sa.UniqueConstraint("merchant_id", "currency", "start", name="uq_settlement_windows_start"),
    )
    op.create_index("ix_settlement_windows_due", "settlement_windows", ["status", "end"])
    op.create_table(
        "settlement_entries",
        _seq(),
        _s("merchant_id", 64),
        _s("window_id", 64),
        _s("transfer_id", 128),
        _s("event_id", 64),
        _s("kind", 16),
        _s("source", 64, nullable=True),
        _big("amount"),
        _s("currency", 3),
        _ts("event_time"),
        sa.Column("late", sa.Boolean(), nullable=False),
        _ts("created"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_settlement_entries")),
        sa.UniqueConstraint("merchant_id", "transfer_id", name="uq_settlement_entries_transfer"),
    )
    op.create_index("ix_settlement_entries_window", "settlement_entries", ["window_id", "seq"])
    op.create_table(
        "settlement_batches",
        _seq(),
        _s("id", 64),
        _s("merchant_id", 64),
        _s("window_id", 64),
        _s("currency", 3),
        _ts("window_start"),
        _ts("window_end"),
        _int("count"),
        _int("late_count"),
        _big("gross"),
        _big("fees"),
        _big("refunds"),
        _big("net"),
        _big("carried_in"),
        _big("settled"),
        _big("carried_out"),
        _s("transfer_id", 128, nullable=True),
        _s("file_name", 255),
        _s("file_sha256", 64),
        _ts("closed_at"),
        _s("payout_id", 64, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_settlement_batches")),
        sa.UniqueConstraint("id", name=op.f("uq_settlement_batches_id")),
        sa.UniqueConstraint("window_id", name="uq_settlement_batches_window"),
    )
    op.create_index(
        "ix_settlement_batches_merchant_seq", "settlement_batches", ["merchant_id", "seq"]
    )
    op.create_index(
        "ix_settlement_batches_payout", "settlement_batches", ["merchant_id", "payout_id"]
    )
    op.create_table(
        "settlement_carries",
        _s("merchant_id", 64),
        _s("currency", 3),
        _big("amount"),
        _ts("updated"),
        sa.PrimaryKeyConstraint("merchant_id", "currency", name=op.f("pk_settlement_carries")),
    )
    op.create_table(
        "payouts",
        _seq(),
        _s("id", 64),
        _s("merchant_id", 64),
        _big("amount"),
        _s("currency", 3),
        _s("status", 16),
        _s("method", 16),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        _s("run_key", 64),
        _s("destination", 64, nullable=True),
        _s("description", 255, nullable=True),
        _s("statement_descriptor", 22, nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        _s("failure_code", 64, nullable=True),
        _s("failure_message", 255, nullable=True),
        _s("transfer_id", 128),
        _ts("arrival_date"),
        _ts("created"),
        _ts("updated"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payouts_amount_positive")),
        sa.CheckConstraint(
            "status IN ('pending', 'in_transit', 'paid', 'failed', 'canceled')",
            name=op.f("ck_payouts_status_valid"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_payouts")),
        sa.UniqueConstraint("id", name=op.f("uq_payouts_id")),
        sa.UniqueConstraint("merchant_id", "run_key", name="uq_payouts_run"),
    )
    op.create_index("ix_payouts_merchant_seq", "payouts", ["merchant_id", "seq"])
    op.create_index("ix_payouts_due", "payouts", ["status", "arrival_date"])
    op.create_table(
        "payout_schedules",
        _s("merchant_id", 64),
        _s("interval", 8),
        _int("delay_days"),
        _int("weekly_anchor"),
        _s("destination", 64, nullable=True),
        _ts("updated"),
        sa.CheckConstraint(
            "interval IN ('manual', 'daily', 'weekly')",
            name=op.f("ck_payout_schedules_interval_valid"),
        ),
        sa.CheckConstraint(
            "delay_days >= 0 AND delay_days <= 30", name=op.f("ck_payout_schedules_delay_range")
        ),
        sa.CheckConstraint(
            "weekly_anchor >= 0 AND weekly_anchor <= 6",
            name=op.f("ck_payout_schedules_anchor_range"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_payout_schedules")),
    )


def downgrade() -> None:
    for table in (
        "payout_schedules",
        "payouts",
        "settlement_carries",
        "settlement_batches",
        "settlement_entries",
        "settlement_windows",
    ):
        op.drop_table(table)
