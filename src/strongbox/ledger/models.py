"""Ledger tables. Transfers are append-only; balances live in a few slot rows per account.

Every row is keyed by ``merchant_id``. The migrations add what the ORM cannot express:
triggers refusing UPDATE/DELETE of transfers, DELETE of accounts and slots, changes to an
account's identity, transfers whose currency differs from their accounts', and slot updates
that would break an account's balance flag (0003); on SQLite, triggers in place of the two
limit constraints below, and refusing any ledger number not stored as an integer (0011).
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

#: ``debits_must_not_exceed_credits``: debits (pending + posted) never exceed posted credits.
DEBITS_MUST_NOT_EXCEED_CREDITS = 1
#: ``credits_must_not_exceed_debits``: credits (pending + posted) never exceed posted debits.
CREDITS_MUST_NOT_EXCEED_DEBITS = 2

#: Transfer kinds: a posted transfer, a pending one, and the three ways a pending one ends.
KIND_POSTED = "posted"
KIND_PENDING = "pending"
KIND_POST = "post"
KIND_VOID = "void"
KIND_EXPIRE = "expire"
KINDS = (KIND_POSTED, KIND_PENDING, KIND_POST, KIND_VOID, KIND_EXPIRE)
RESOLUTIONS = (KIND_POST, KIND_VOID, KIND_EXPIRE)


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("merchant_id", "purpose", "currency", name="uq_ledger_accounts_purpose"),
        Index("ix_ledger_accounts_merchant_seq", "merchant_id", "seq"),
        CheckConstraint("flags IN (0, 1, 2)", name="flags_valid"),
        CheckConstraint("slots >= 1 AND slots <= 64", name="slots_range"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    flags: Mapped[int] = mapped_column(Integer)
    slots: Mapped[int] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    created: Mapped[datetime]


#: The limits, as the database holds them (``ledger/transfers.py`` explains them).
LIMIT_AMOUNT = 2**53 - 1
LIMIT_SLOT_SIDE = 2**62


class BalanceSlot(Base):
    """One of an account's ``slots`` partial balances; the balance is their sum.

    Postings add to one slot, so concurrent postings to one account do not queue on one row.
    A single slot may go negative (a pending amount added to one slot is released from
    another); only the sums mean anything, and the flag triggers check the sums.
    """

    __tablename__ = "ledger_balance_slots"
    __table_args__ = (
        CheckConstraint(
            f"debits_pending + debits_posted <= {LIMIT_SLOT_SIDE} "
            f"AND credits_pending + credits_posted <= {LIMIT_SLOT_SIDE}",
            name="within_limit",
        ),
    )

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    debits_pending: Mapped[int] = mapped_column(BigInteger)
    debits_posted: Mapped[int] = mapped_column(BigInteger)
    credits_pending: Mapped[int] = mapped_column(BigInteger)
    credits_posted: Mapped[int] = mapped_column(BigInteger)


class LedgerTransfer(Base):
    """An immutable transfer. ``id`` is chosen by the client (unique per merchant);
    ``txn_id`` is ours (it names the balance transaction, if the transfer is one)."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        UniqueConstraint("merchant_id", "id", name="uq_ledger_transfers_client_id"),
        # A pending transfer is resolved (posted, voided or expired) at most once.
        UniqueConstraint("merchant_id", "pending_id", name="uq_ledger_transfers_pending"),
        Index("ix_ledger_transfers_merchant_seq", "merchant_id", "seq"),
        Index("ix_ledger_transfers_source", "merchant_id", "source"),
        Index("ix_ledger_transfers_timeout", "timeout_at"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"amount <= {LIMIT_AMOUNT}", name="amount_max"),
        CheckConstraint("debit_account_id <> credit_account_id", name="accounts_differ"),
        CheckConstraint(
            "kind IN ('posted', 'pending', 'post', 'void', 'expire')", name="kind_valid"
        ),
        CheckConstraint(
            "(kind IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)",
            name="pending_id_iff_resolution",
        ),
        CheckConstraint("timeout_at IS NULL OR kind = 'pending'", name="timeout_only_pending"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(128))
    txn_id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    debit_account_id: Mapped[str] = mapped_column(String(64))
    credit_account_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(8))
    pending_id: Mapped[str | None] = mapped_column(String(128))
    timeout_at: Mapped[datetime | None]
    code: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64))
    linked: Mapped[bool] = mapped_column(Boolean)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    created: Mapped[datetime]


class FeeSchedule(Base):
    """A merchant's processing fee: ``percent_bps`` of the captured amount plus ``fixed``
    minor units. ``currency`` ``"*"`` applies to every currency without its own row."""

    __tablename__ = "ledger_fee_schedules"
    __table_args__ = (
        CheckConstraint("percent_bps >= 0 AND percent_bps <= 10000", name="bps_range"),
        CheckConstraint("fixed_amount >= 0", name="fixed_non_negative"),
    )

    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    percent_bps: Mapped[int] = mapped_column(Integer)
    fixed_amount: Mapped[int] = mapped_column(BigInteger)
    updated: Mapped[datetime]


# Accounts the posting rules keep per merchant and currency.
GATEWAY_RECEIVABLE = "gateway_receivable"  # what the gateways owe for captured payments
MERCHANT_PENDING = "merchant_pending"  # the merchant's captured, not yet settled funds
MERCHANT_AVAILABLE = "merchant_available"  # settled funds (payouts debit it later)
FEES = "fees"  # processing fees earned by the platform
REFUNDS = "refunds"  # refunds owed back to customers through the gateway
RESERVE = "reserve"  # funds held back from the merchant
PAYOUTS = "payouts"  # paid out (or on its way) to the merchant's external account
# Reconciliation (issue 25): differences accepted from a gateway's report, and written off.
RECONCILIATION = "reconciliation"
WRITE_OFFS = "write_offs"
# Foreign exchange (issue 25): a converted payment's two legs meet here, one account per
# currency, so each currency balances on its own; the balances are the platform's FX position.
FX = "fx"
SYSTEM_PURPOSES = (
    GATEWAY_RECEIVABLE,
    MERCHANT_PENDING,
    MERCHANT_AVAILABLE,
    FEES,
    REFUNDS,
    RESERVE,
    PAYOUTS,
    RECONCILIATION,
    WRITE_OFFS,
    FX,
)
#: Flags of the system accounts: the merchant's settled balance can never go below zero.
SYSTEM_FLAGS = {MERCHANT_AVAILABLE: DEBITS_MUST_NOT_EXCEED_CREDITS}
#: Transfer codes of settlement (issue 19): a closed window's net from merchant_pending to
#: merchant_available, and a payout from merchant_available to payouts.
CODE_SETTLEMENT = "settlement"
CODE_PAYOUT = "payout"
#: Accounts whose postings are the merchant's Stripe balance transactions.
MERCHANT_BALANCE_PURPOSES = (MERCHANT_PENDING, MERCHANT_AVAILABLE)
