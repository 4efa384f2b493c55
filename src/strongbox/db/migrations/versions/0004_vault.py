"""card vault: data keys, card and CVC ciphertexts, per-customer PII keys

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "vault_keks",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_vault_keks")),
    )
    op.create_table(
        "vault_data_keys",
        _seq(),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_data_keys")),
        sa.UniqueConstraint("purpose", "version", name=op.f("uq_vault_data_keys_purpose")),
    )
    op.create_table(
        "vault_cards",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("payment_method_id", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_cards")),
        sa.UniqueConstraint("id", name=op.f("uq_vault_cards_id")),
    )
    with op.batch_alter_table("vault_cards", schema=None) as batch_op:
        batch_op.create_index("ix_vault_cards_key_version", ["key_version", "seq"], unique=False)
        batch_op.create_index(
            "ix_vault_cards_payment_method", ["merchant_id", "payment_method_id"], unique=False
        )
    op.create_table(
        "vault_cvcs",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("payment_method_id", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_cvcs")),
        sa.UniqueConstraint("id", name=op.f("uq_vault_cvcs_id")),
    )
    with op.batch_alter_table("vault_cvcs", schema=None) as batch_op:
        batch_op.create_index("ix_vault_cvcs_expires_at", ["expires_at"], unique=False)
        batch_op.create_index(
            "ix_vault_cvcs_payment_method", ["merchant_id", "payment_method_id"], unique=False
        )
    op.create_table(
        "vault_subject_keys",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_subject_keys")),
        sa.UniqueConstraint("id", name=op.f("uq_vault_subject_keys_id")),
        sa.UniqueConstraint(
            "merchant_id", "subject_id", name=op.f("uq_vault_subject_keys_merchant_id")
        ),
    )
    with op.batch_alter_table("vault_subject_keys", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vault_subject_keys_key_version", ["key_version", "seq"], unique=False
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pii", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("email_index", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_customers_email_index", ["merchant_id", "email_index"], unique=False
        )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_cvc_check", sa.String(length=16), nullable=True))
        batch_op.create_index(
            "ix_payment_methods_fingerprint", ["merchant_id", "fingerprint"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_methods_fingerprint")
        batch_op.drop_column("card_cvc_check")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_email_index")
        batch_op.drop_column("email_index")
        batch_op.drop_column("pii")
    with op.batch_alter_table("vault_subject_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_subject_keys_key_version")
    op.drop_table("vault_subject_keys")
    with op.batch_alter_table("vault_cvcs", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_cvcs_payment_method")
        batch_op.drop_index("ix_vault_cvcs_expires_at")
    op.drop_table("vault_cvcs")
    with op.batch_alter_table("vault_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_cards_payment_method")
        batch_op.drop_index("ix_vault_cards_key_version")
    op.drop_table("vault_cards")
    op.drop_table("vault_data_keys")
    op.drop_table("vault_keks")
