"""adyen inbound notifications: optional Basic auth on an inbound webhook account

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_webhook_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basic_auth_username", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("basic_auth_password_sealed", sa.LargeBinary(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_webhook_accounts", schema=None) as batch_op:
        batch_op.drop_column("basic_auth_password_sealed")
        batch_op.drop_column("basic_auth_username")
