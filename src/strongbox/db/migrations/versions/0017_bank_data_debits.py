"""bank data: the provider's user an item belongs to (Yodlee's DATA_UPDATES name a user)

Revision ID: 0017_bank_data_debits
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_bank_data_debits"
down_revision: str | None = "0020_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bank_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_user_id", sa.String(length=128), nullable=True))
        batch_op.create_index(
            "ix_bank_items_provider_user", ["provider", "provider_user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bank_items", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_items_provider_user")
        batch_op.drop_column("provider_user_id")
