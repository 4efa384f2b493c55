"""Settlement tables: windows, the entries in them, batches, carries; payouts and schedules.

Every row is keyed by ``merchant_id``. A window is one merchant's, one currency's, one
``[start, end)`` of event time; it is open until its end passes and closes exactly once into
one batch (``uq_settlement_batches_window``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column

WINDOW_OPEN = "open"
WINDOW_CLOSED = "closed"


class SettlementWindow(Base):
    __tablename__ = "settlement_windows"
    __table_args__ = (
        UniqueConstraint("merchant_id", "currency", "start", name="uq_settlement_windows_start"),
        Index("ix_settlement_windows_due", "status", "end"),
        CheckConstraint("status IN ('open', 'closed')", name="status_valid"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    start: Mapped[datetime]
    end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8))
    count: Mapped[int] = mapped_column(Integer)
    late_count: Mapped[int] = mapped_column(Integer)
    gross: Mapped[int] = mapped_column(BigInteger)  # charges
    fees: Mapped[int] = mapped_column(BigInteger)  # fees, as a positive amount
    refunds: Mapped[int] = mapped_column(BigInteger)  # refunds, as a positive amount
    net: Mapped[int] = mapped_column(BigInteger)  # gross - fees - refunds
    created: Mapped[datetime]


class SettlementEntry(Base):
    """One ledger transfer on the merchant's pending balance, in the window it settles in."""

    __tablename__ = "settlement_entries"
    __table_args__ = (
        UniqueConstraint("merchant_id", "transfer_id", name="uq_settlement_entries_transfer"),
        Index("ix_settlement_entries_window", "window_id", "seq"),
    )

    seq: Mapped[int] = seq_column()
    merchant_id: Mapped[str] = mapped_column(String(64))
    window_id: Mapped[str] = mapped_column(String(64))
    transfer_id: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # charge | fee | refund
    source: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: + to the merchant, - from it
    currency: Mapped[str] = mapped_column(String(3))
    event_time: Mapped[datetime]
    late: Mapped[bool] = mapped_column(Boolean)
    created: Mapped[datetime]


class SettlementBatch(Base):
    """A closed window: what moved from pending to available, and its settlement file."""

    __tablename__ = "settlement_batches"
    __table_args__ = (
        UniqueConstraint("window_id", name="uq_settlement_batches_window"),
        Index("ix_settlement_batches_merchant_seq", "merchant_id", "seq"),
        Index("ix_settlement_batches_payout", "merchant_id", "payout_id"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    window_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)
    late_count: Mapped[int] = mapped_column(Integer)
    gross: Mapped[int] = mapped_column(BigInteger)
    fees: Mapped[int] = mapped_column(BigInteger)
    refunds: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)
    carried_in: Mapped[int] = mapped_column(BigInteger)  # a negative remainder from before
    settled: Mapped[int] = mapped_column(BigInteger)  # moved pending -> available (>= 0)
    carried_out: Mapped[int] = mapped_column(BigInteger)  # net + carried_in - settled (<= 0)
    transfer_id: Mapped[str | None] = mapped_column(String(128))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime]
    # The automatic payout that swept this batch's settled amount (``?payout=po_…``).
    payout_id: Mapped[str | None] = mapped_column(String(64))


class SettlementCarry(Base):
    """A merchant's negative remainder per currency (a window whose refunds and fees passed
    its charges), taken into its next batch; the row every close of that merchant and
    currency locks, so that closes of one merchant and currency run one at a time."""

    __tablename__ = "settlement_carries"

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    updated: Mapped[datetime]


PAYOUT_PENDING = "pending"
PAYOUT_IN_TRANSIT = "in_transit"
PAYOUT_PAID = "paid"
PAYOUT_FAILED = "failed"
PAYOUT_CANCELED = "canceled"
PAYOUT_STATUSES = (PAYOUT_PENDING, PAYOUT_IN_TRANSIT, PAYOUT_PAID, PAYOUT_FAILED, PAYOUT_CANCELED)


class Payout(Base):
    """Stripe's Payout: available balance on its way to the merchant's external account."""

    __tablename__ = "payouts"
    __table_args__ = (
        Index("ix_payouts_merchant_seq", "merchant_id", "seq"),
        Index("ix_payouts_due", "status", "arrival_date"),
        UniqueConstraint("merchant_id", "run_key", name="uq_payouts_run"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('pending', 'in_transit', 'paid', 'failed', 'canceled')",
            name="status_valid",
        ),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    automatic: Mapped[bool] = mapped_column(Boolean)
    # automatic payouts: "<currency>:<day>" (one per schedule run); manual: the payout id
    run_key: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(255))
    statement_descriptor: Mapped[str | None] = mapped_column(String(22))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(255))
    transfer_id: Mapped[str] = mapped_column(String(128))  # its balance transaction's transfer
    arrival_date: Mapped[datetime]
    created: Mapped[datetime]
    updated: Mapped[datetime]


class PayoutSchedule(Base):
    """A merchant's payout schedule (Stripe's ``settings.payouts.schedule``)."""

    __tablename__ = "payout_schedules"
    __table_args__ = (
        CheckConstraint("interval IN ('manual', 'daily', 'weekly')", name="interval_valid"),
        CheckConstraint("delay_days >= 0 AND delay_days <= 30", name="delay_range"),
        CheckConstraint("weekly_anchor >= 0 AND weekly_anchor <= 6", name="anchor_range"),
    )

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval: Mapped[str] = mapped_column(String(8))
    delay_days: Mapped[int] = mapped_column(Integer)
    weekly_anchor: Mapped[int] = mapped_column(Integer)  # 0 = monday
    destination: Mapped[str | None] = mapped_column(String(64))
    updated: Mapped[datetime]
