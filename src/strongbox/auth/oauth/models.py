"""OAuth2 tables: clients, authorization codes, refresh tokens, revoked access tokens, keys.

Secrets (client secrets, codes, refresh tokens) are stored only as SHA-256 digests: each
carries at least 190 bits of randomness, so a digest cannot be reversed. Signing keys keep
their private half sealed (``core.sealing``), bound to the key id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, JSONType, seq_column


class OAuthClient(Base):
    """A third-party, mobile or service application registered by a merchant."""

    __tablename__ = "oauth_clients"
    __table_args__ = (Index("ix_oauth_clients_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)  # the client_id
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # confidential | public
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType)
    grant_types: Mapped[list[str]] = mapped_column(JSONType)
    scope: Mapped[str] = mapped_column(Text)  # space-separated permissions it may be granted
    created: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OAuthAuthorizationCode(Base):
    """A single-use authorization code bound to its client, redirect URI and PKCE challenge."""

    __tablename__ = "oauth_authorization_codes"

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    family_id: Mapped[str] = mapped_column(String(64))  # the tokens it was exchanged for
    created: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OAuthRefreshToken(Base):
    """One refresh token of a family; each use rotates it (``rotated_at``) to a new one.

    Presenting a rotated token again is reuse: the whole family is revoked.
    """

    __tablename__ = "oauth_refresh_tokens"
    __table_args__ = (Index("ix_oauth_refresh_tokens_family_id", "family_id"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime]
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class OAuthRevokedAccessToken(Base):
    """An access token revoked before it expired (RFC 7009), by ``jti``, kept until ``exp``."""

    __tablename__ = "oauth_revoked_access_tokens"

    seq: Mapped[int] = seq_column()
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    created: Mapped[datetime]


class OAuthSigningKey(Base):
    """An installation's access-token signing key (ES256). ``retired_at``: it stopped signing
    then, and stays published in the JWKS until every token it signed has expired."""

    __tablename__ = "oauth_signing_keys"

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)  # the JWS "kid"
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime]
    retired_at: Mapped[datetime | None]
