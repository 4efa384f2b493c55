"""Bank-data tables: link sessions, items (one bank login, its sealed access token), linked
accounts, their transactions, and provider webhooks received.

No token or account number is ever stored in the clear: the item's access token and an
account's ACH numbers are sealed by the vault (``runtime.sealer``), bound to their merchant
and row; an account shows only ``last4``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, JSONType, seq_column


class BankSession(Base):
    """A Financial Connections session: the link flow one end user goes through."""

    __tablename__ = "bank_sessions"
    __table_args__ = (Index("ix_bank_sessions_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    client_secret: Mapped[str] = mapped_column(String(128))
    link_token: Mapped[str | None] = mapped_column(String(256))
    link_token_expires_at: Mapped[datetime | None]
    account_holder: Mapped[dict[str, Any]] = mapped_column(JSONType)
    permissions: Mapped[list[str]] = mapped_column(JSONType)
    prefetch: Mapped[list[str]] = mapped_column(JSONType)
    return_url: Mapped[str | None] = mapped_column(String(2048))
    # Update mode: the session relinks this item (after a login-required error).
    relink_item_id: Mapped[str | None] = mapped_column(String(64))
    item_id: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the public token that completed the session: the same request sent again
    # (a retry after a lost answer) gets the session, not an error.
    completed_with: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime]
    updated: Mapped[datetime]


class BankItem(Base):
    """One bank login at one provider; its access token sealed, destroyed on disconnect."""

    __tablename__ = "bank_items"
    __table_args__ = (
        UniqueConstraint("provider", "provider_item_id", name="uq_bank_items_provider_item"),
        Index("ix_bank_items_merchant_seq", "merchant_id", "seq"),
        Index("ix_bank_items_poll", "status", "next_poll_at"),
        Index("ix_bank_items_provider_user", "provider", "provider_user_id"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(16))
    provider_item_id: Mapped[str] = mapped_column(String(128))
    # The provider's end user the login belongs to, when its webhooks name users (Yodlee's
    # DATA_UPDATES name a loginName, not a provider account); None for Plaid.
    provider_user_id: Mapped[str | None] = mapped_column(String(128), default=None)
    access_token_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    cursor: Mapped[str] = mapped_column(String(2048), default="")
    status: Mapped[str] = mapped_column(String(24))  # active | login_required | disconnected
    error_code: Mapped[str | None] = mapped_column(String(64))
    next_poll_at: Mapped[datetime | None]
    created: Mapped[datetime]
    updated: Mapped[datetime]


class BankAccountRow(Base):
    """A linked account (``fca_…``), Stripe's ``financial_connections.account``."""

    __tablename__ = "bank_accounts"
    __table_args__ = (
        UniqueConstraint("item_id", "provider_account_id", name="uq_bank_accounts_item_account"),
        Index("ix_bank_accounts_merchant_seq", "merchant_id", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(64))
    provider_account_id: Mapped[str] = mapped_column(String(128))
    account_holder: Mapped[dict[str, Any]] = mapped_column(JSONType)
    display_name: Mapped[str] = mapped_column(String(200))
    institution_name: Mapped[str] = mapped_column(String(200))
    last4: Mapped[str | None] = mapped_column(String(4))
    category: Mapped[str] = mapped_column(String(16))
    subcategory: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # active | inactive | disconnected
    permissions: Mapped[list[str]] = mapped_column(JSONType)
    balance: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    balance_refresh: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ownership: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ownership_refresh: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    transaction_refresh: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Plaid Auth's account and routing numbers, sealed together; None until fetched.
    numbers_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    routing_number: Mapped[str | None] = mapped_column(String(9))
    account_last4: Mapped[str | None] = mapped_column(String(4))
    created: Mapped[datetime]
    updated: Mapped[datetime]


class BankTransactionRow(Base):
    """A transaction (``fctxn_…``): one id per provider transaction, kept across updates."""

    __tablename__ = "bank_transactions"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "provider_transaction_id", name="uq_bank_transactions_provider"
        ),
        Index("ix_bank_transactions_merchant_account_seq", "merchant_id", "account_id", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(64))
    provider_transaction_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # pending | posted | void
    transacted_on: Mapped[date] = mapped_column(Date)
    posted_at: Mapped[datetime | None]
    void_at: Mapped[datetime | None]
    transaction_refresh: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime]
    updated: Mapped[datetime]


class BankWebhookEvent(Base):
    """A verified provider webhook, stored once (by the SHA-256 of the signed delivery) and
    applied by a worker with exponential back-off."""

    __tablename__ = "bank_webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "dedupe_key", name="uq_bank_webhook_events_dedupe"),
        Index("ix_bank_webhook_events_due", "status", "next_attempt_at"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    item_id: Mapped[str | None] = mapped_column(String(64))
    webhook_type: Mapped[str] = mapped_column(String(64))
    webhook_code: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))  # pending | processed | failed | ignored
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    created: Mapped[datetime]
    processed_at: Mapped[datetime | None]
