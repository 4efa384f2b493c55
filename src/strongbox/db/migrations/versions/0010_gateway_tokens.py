"""gateway tokens: a payment method may be a token held by one connector account's gateway

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connector_account_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("gateway_token", sa.String(length=255), nullable=True))
        batch_op.alter_column("fingerprint", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE payment_methods SET fingerprint = '' WHERE fingerprint IS NULL")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.alter_column("fingerprint", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("gateway_token")
        batch_op.drop_column("connector_account_id")
