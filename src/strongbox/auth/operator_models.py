"""Tables of operator identity (issue 17): people, their factors and sessions, invitations,
and just-in-time access grants. Every row carries the ``merchant_id`` it belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column


class Operator(Base):
    """A person who operates a merchant's account (a Stripe team member)."""

    __tablename__ = "operators"
    __table_args__ = (Index("ix_operators_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # invited | active | disabled
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_logins: Mapped[int]
    locked_until: Mapped[datetime | None]
    # TOTP: the base32 seed sealed under the vault's seal key (core/sealing.py), confirmed
    # once a code from it was accepted; the last time step accepted (a code of that step or
    # an earlier one is a replay)
    totp_seed_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_confirmed: Mapped[bool]
    totp_last_step: Mapped[int | None]
    created: Mapped[datetime]
    updated: Mapped[datetime]


class RecoveryCode(Base):
    """A single-use recovery code, stored as its SHA-256 digest (codes carry ≥ 80 bits)."""

    __tablename__ = "operator_recovery_codes"
    __table_args__ = (Index("ix_operator_recovery_codes_operator", "operator_id"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    operator_id: Mapped[str] = mapped_column(String(64), ForeignKey("operators.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
    created: Mapped[datetime]


class WebAuthnCredential(Base):
    """A registered security key: its credential id and COSE public key (base64url)."""

    __tablename__ = "operator_webauthn_credentials"
    __table_args__ = (Index("ix_operator_webauthn_credentials_operator", "operator_id"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    operator_id: Mapped[str] = mapped_column(String(64), ForeignKey("operators.id"))
    credential_id: Mapped[str] = mapped_column(String(700), unique=True)
    public_key: Mapped[str] = mapped_column(String(2000))
    sign_count: Mapped[int]
    created: Mapped[datetime]


class OperatorSession(Base):
    """A login: the cookie's and CSRF token's digests; fully authenticated once a second
    factor was verified (``second_factor_at``); ends after 15 minutes idle."""

    __tablename__ = "operator_sessions"
    __table_args__ = (Index("ix_operator_sessions_operator", "operator_id"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    operator_id: Mapped[str] = mapped_column(String(64), ForeignKey("operators.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    second_factor_at: Mapped[datetime | None]
    # the open WebAuthn ceremony's challenge (base64url), if any
    challenge: Mapped[str | None] = mapped_column(String(200))
    created: Mapped[datetime]
    last_seen: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Invitation(Base):
    """An invitation to become an operator with a role; accepted by setting a password."""

    __tablename__ = "operator_invitations"
    __table_args__ = (Index("ix_operator_invitations_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    operator_id: Mapped[str] = mapped_column(String(64), ForeignKey("operators.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    created: Mapped[datetime]


class AccessGrant(Base):
    """A just-in-time elevation to a higher role for a reason and a duration.

    ``status``: pending → active (approved by another operator) → expired | revoked; or
    pending → refused. Break-glass grants are active at once and alert."""

    __tablename__ = "access_grants"
    __table_args__ = (
        Index("ix_access_grants_merchant_seq", "merchant_id", "seq"),
        Index("ix_access_grants_status_expires", "status", "expires_at"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    operator_id: Mapped[str] = mapped_column(String(64), ForeignKey("operators.id"))
    role: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))
    duration_seconds: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    break_glass: Mapped[bool]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
