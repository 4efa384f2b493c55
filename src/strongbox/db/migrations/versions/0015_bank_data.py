"""bank data: Financial Connections sessions, items (sealed access tokens), accounts,
transactions, verified provider webhooks; payment methods' bank_account (us_bank_account)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bank_accounts",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("provider_account_id", sa.String(length=128), nullable=False),
        sa.Column("account_holder", _json(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("institution_name", sa.String(length=200), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("subcategory", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("permissions", _json(), nullable=False),
        sa.Column("balance", _json(), nullable=True),
        sa.Column("balance_refresh", _json(), nullable=True),
        sa.Column("ownership", _json(), nullable=True),
        sa.Column("ownership_refresh", _json(), nullable=True),
        sa.Column("transaction_refresh", _json(), nullable=True),
        sa.Column("numbers_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("routing_number", sa.String(length=9), nullable=True),
        sa.Column("account_last4", sa.String(length=4), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bank_accounts")),
        sa.UniqueConstraint("id", name=op.f("uq_bank_accounts_id")),
        sa.UniqueConstraint("item_id", "provider_account_id", name="uq_bank_accounts_item_account"),
    )
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_bank_accounts_merchant_seq", ["merchant_id", "seq"], unique=False)

    op.create_table(
        "bank_items",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_item_id", sa.String(length=128), nullable=False),
        sa.Column("access_token_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("cursor", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bank_items")),
        sa.UniqueConstraint("id", name=op.f("uq_bank_items_id")),
        sa.UniqueConstraint("provider", "provider_item_id", name="uq_bank_items_provider_item"),
    )
    with op.batch_alter_table("bank_items", schema=None) as batch_op:
        batch_op.create_index("ix_bank_items_merchant_seq", ["merchant_id", "seq"], unique=False)
        batch_op.create_index("ix_bank_items_poll", ["status", "next_poll_at"], unique=False)

    op.create_table(
        "bank_sessions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("client_secret", sa.String(length=128), nullable=False),
        sa.Column("link_token", sa.String(length=256), nullable=True),
        sa.Column("link_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("account_holder", _json(), nullable=False),
        sa.Column("permissions", _json(), nullable=False),
        sa.Column("prefetch", _json(), nullable=False),
        sa.Column("return_url", sa.String(length=2048), nullable=True),
        sa.Column("relink_item_id", sa.String(length=64), nullable=True),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("completed_with", sa.String(length=64), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bank_sessions")),
        sa.UniqueConstraint("id", name=op.f("uq_bank_sessions_id")),
    )
    with op.batch_alter_table("bank_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_bank_sessions_merchant_seq", ["merchant_id", "seq"], unique=False)

    op.create_table(
        "bank_transactions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("provider_transaction_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transacted_on", sa.Date(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transaction_refresh", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bank_transactions")),
        sa.UniqueConstraint(
            "account_id", "provider_transaction_id", name="uq_bank_transactions_provider"
        ),
        sa.UniqueConstraint("id", name=op.f("uq_bank_transactions_id")),
    )
    with op.batch_alter_table("bank_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bank_transactions_merchant_account_seq",
            ["merchant_id", "account_id", "seq"],
            unique=False,
        )

    op.create_table(
        "bank_webhook_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("webhook_type", sa.String(length=64), nullable=False),
        sa.Column("webhook_code", sa.String(length=64), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bank_webhook_events")),
        sa.UniqueConstraint("id", name=op.f("uq_bank_webhook_events_id")),
        sa.UniqueConstraint("provider", "dedupe_key", name="uq_bank_webhook_events_dedupe"),
    )
    with op.batch_alter_table("bank_webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bank_webhook_events_due", ["status", "next_attempt_at"], unique=False
        )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bank_account", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_column("bank_account")
    with op.batch_alter_table("bank_webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_webhook_events_due")

    op.drop_table("bank_webhook_events")
    with op.batch_alter_table("bank_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_transactions_merchant_account_seq")

    op.drop_table("bank_transactions")
    with op.batch_alter_table("bank_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_sessions_merchant_seq")

    op.drop_table("bank_sessions")
    with op.batch_alter_table("bank_items", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_items_poll")
        batch_op.drop_index("ix_bank_items_merchant_seq")

    op.drop_table("bank_items")
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_accounts_merchant_seq")

    op.drop_table("bank_accounts")
