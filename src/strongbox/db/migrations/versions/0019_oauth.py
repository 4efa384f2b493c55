"""oauth: clients, authorization codes, refresh-token families, revoked access tokens, signing keys

Revision ID: 0019_oauth
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019_oauth"
down_revision: str | None = "0017"
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


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _merchant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["merchant_id"], ["merchants.id"], name=op.f(f"fk_{table}_merchant_id_merchants")
    )


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("redirect_uris", _json(), nullable=False),
        sa.Column("grant_types", _json(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        _ts("created"),
        _ts("revoked_at", nullable=True),
        _merchant_fk("oauth_clients"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_oauth_clients")),
        sa.UniqueConstraint("id", name=op.f("uq_oauth_clients_id")),
    )
    op.create_index("ix_oauth_clients_merchant_seq", "oauth_clients", ["merchant_id", "seq"])
    op.create_table(
        "oauth_authorization_codes",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        _ts("created"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        _merchant_fk("oauth_authorization_codes"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_oauth_authorization_codes")),
        sa.UniqueConstraint("id", name=op.f("uq_oauth_authorization_codes_id")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_oauth_authorization_codes_code_hash")),
    )
    op.create_table(
        "oauth_refresh_tokens",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        _ts("created"),
        _ts("expires_at"),
        _ts("rotated_at", nullable=True),
        _ts("revoked_at", nullable=True),
        _merchant_fk("oauth_refresh_tokens"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_oauth_refresh_tokens")),
        sa.UniqueConstraint("id", name=op.f("uq_oauth_refresh_tokens_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oauth_refresh_tokens_token_hash")),
    )
    op.create_index("ix_oauth_refresh_tokens_family_id", "oauth_refresh_tokens", ["family_id"])
    op.create_table(
        "oauth_revoked_access_tokens",
        _seq(),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        _ts("expires_at"),
        _ts("created"),
        _merchant_fk("oauth_revoked_access_tokens"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_oauth_revoked_access_tokens")),
        sa.UniqueConstraint("jti", name=op.f("uq_oauth_revoked_access_tokens_jti")),
    )
    op.create_table(
        "oauth_signing_keys",
        _seq(),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", _json(), nullable=False),
        sa.Column("private_sealed", sa.LargeBinary(), nullable=False),
        _ts("created"),
        _ts("retired_at", nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_oauth_signing_keys")),
        sa.UniqueConstraint("id", name=op.f("uq_oauth_signing_keys_id")),
    )


def downgrade() -> None:
    op.drop_table("oauth_signing_keys")
    op.drop_table("oauth_revoked_access_tokens")
    op.drop_index("ix_oauth_refresh_tokens_family_id", table_name="oauth_refresh_tokens")
    op.drop_table("oauth_refresh_tokens")
    op.drop_table("oauth_authorization_codes")
    op.drop_index("ix_oauth_clients_merchant_seq", table_name="oauth_clients")
    op.drop_table("oauth_clients")
