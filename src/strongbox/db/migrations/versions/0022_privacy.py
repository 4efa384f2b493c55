"""privacy: data subject requests (access, portability, erasure); merchant regions

Revision ID: 0022
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0017_bank_data_debits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=32), nullable=True))
    with op.batch_alter_table("vault_subject_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=32), nullable=True))
    op.create_table(
        "privacy_requests",
        sa.Column("seq", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("subject_ids", _JSON, nullable=False),
        sa.Column("steps", _JSON, nullable=False),
        sa.Column("certificate", _JSON, nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_requests")),
        sa.UniqueConstraint("id", name=op.f("uq_privacy_requests_id")),
    )
    op.create_index("ix_privacy_requests_merchant_seq", "privacy_requests", ["merchant_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_privacy_requests_merchant_seq", table_name="privacy_requests")
    op.drop_table("privacy_requests")
    with op.batch_alter_table("vault_subject_keys", schema=None) as batch_op:
        batch_op.drop_column("region")
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("region")
