"""operators: operator accounts, factors, sessions, invitations, access grants; restricted keys

Revision ID: 0018
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0019_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_seed_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("totp_confirmed", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_operators_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_operators_email")),
        sa.UniqueConstraint("id", name=op.f("uq_operators_id")),
    )
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.create_index("ix_operators_merchant_seq", ["merchant_id", "seq"], unique=False)

    op.create_table(
        "access_grants",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_access_grants_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_access_grants_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_access_grants")),
        sa.UniqueConstraint("id", name=op.f("uq_access_grants_id")),
    )
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.create_index("ix_access_grants_merchant_seq", ["merchant_id", "seq"], unique=False)
        batch_op.create_index(
            "ix_access_grants_status_expires", ["status", "expires_at"], unique=False
        )

    op.create_table(
        "operator_invitations",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_operator_invitations_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_invitations_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operator_invitations")),
        sa.UniqueConstraint("id", name=op.f("uq_operator_invitations_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_operator_invitations_token_hash")),
    )
    with op.batch_alter_table("operator_invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_operator_invitations_merchant_seq", ["merchant_id", "seq"], unique=False
        )

    op.create_table(
        "operator_recovery_codes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_operator_recovery_codes_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_recovery_codes_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operator_recovery_codes")),
        sa.UniqueConstraint("id", name=op.f("uq_operator_recovery_codes_id")),
    )
    with op.batch_alter_table("operator_recovery_codes", schema=None) as batch_op:
        batch_op.create_index("ix_operator_recovery_codes_operator", ["operator_id"], unique=False)

    op.create_table(
        "operator_sessions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_hash", sa.String(length=64), nullable=False),
        sa.Column("second_factor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("challenge", sa.String(length=200), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_operator_sessions_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_sessions_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operator_sessions")),
        sa.UniqueConstraint("id", name=op.f("uq_operator_sessions_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_operator_sessions_token_hash")),
    )
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_operator_sessions_operator", ["operator_id"], unique=False)

    op.create_table(
        "operator_webauthn_credentials",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=700), nullable=False),
        sa.Column("public_key", sa.String(length=2000), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_operator_webauthn_credentials_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_webauthn_credentials_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_operator_webauthn_credentials")),
        sa.UniqueConstraint(
            "credential_id", name=op.f("uq_operator_webauthn_credentials_credential_id")
        ),
        sa.UniqueConstraint("id", name=op.f("uq_operator_webauthn_credentials_id")),
    )
    with op.batch_alter_table("operator_webauthn_credentials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_operator_webauthn_credentials_operator", ["operator_id"], unique=False
        )

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("restrictions", _json(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("restrictions")
        batch_op.drop_column("name")

    with op.batch_alter_table("operator_webauthn_credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_webauthn_credentials_operator")

    op.drop_table("operator_webauthn_credentials")
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_sessions_operator")

    op.drop_table("operator_sessions")
    with op.batch_alter_table("operator_recovery_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_recovery_codes_operator")

    op.drop_table("operator_recovery_codes")
    with op.batch_alter_table("operator_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_invitations_merchant_seq")

    op.drop_table("operator_invitations")
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_access_grants_status_expires")
        batch_op.drop_index("ix_access_grants_merchant_seq")

    op.drop_table("access_grants")
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.drop_index("ix_operators_merchant_seq")

    op.drop_table("operators")
