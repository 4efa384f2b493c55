"""connectors: connector accounts, routing configs, routing recorded on attempts

Revision ID: 0008
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0005"
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
        "connector_accounts",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("sealed_credentials", sa.LargeBinary(), nullable=False),
        sa.Column("credential_hints", _json(), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_connector_accounts")),
        sa.UniqueConstraint("id", name=op.f("uq_connector_accounts_id")),
    )
    with op.batch_alter_table("connector_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_connector_accounts_merchant_seq", ["merchant_id", "seq"], unique=False
        )
    op.create_table(
        "routing_configs",
        _seq(),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("config", _json(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_routing_configs")),
        sa.UniqueConstraint("merchant_id", name="uq_routing_configs_merchant"),
    )
    with op.batch_alter_table("payment_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connector_account_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("routing", _json(), nullable=True))
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connector_account_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.drop_column("connector_account_id")
    with op.batch_alter_table("payment_attempts", schema=None) as batch_op:
        batch_op.drop_column("routing")
        batch_op.drop_column("connector_account_id")
    op.drop_table("routing_configs")
    with op.batch_alter_table("connector_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_connector_accounts_merchant_seq")
    op.drop_table("connector_accounts")
