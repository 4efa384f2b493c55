"""Vault tables: key-encryption keys, wrapped data keys, card and CVC ciphertexts, PII keys.

Nothing here is ever plaintext key material or card data: data keys are stored only wrapped
by a key-encryption key (which lives in the key provider), PANs and CVCs only as AES-256-GCM
ciphertext under a data key, and per-customer keys only wrapped by a data key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column

# Key statuses (``KeyEncryptionKey.status``, ``DataKey.status``).
ACTIVE, RETIRING, RETIRED = "active", "retiring", "retired"


class KeyEncryptionKey(Base):
    """A KEK version; the key itself lives in the provider under ``label``."""

    __tablename__ = "vault_keks"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # active | retired
    created: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class DataKey(Base):
    """A data-encryption key version, stored only wrapped by a KEK.

    ``purpose``: ``data`` (cards, CVCs, per-customer keys; rotated and retired once unused),
    ``seal`` (values sealed for other domains; old versions stay decrypt-only), ``mac``
    (root of the per-merchant fingerprint and blind-index keys; never rotated, re-wrapped).
    ``status``: ``active`` (new encryptions), ``retiring`` (decrypt only, records being
    re-encrypted), ``retired`` (unused; the wrapped key is destroyed).
    """

    __tablename__ = "vault_data_keys"
    __table_args__ = (UniqueConstraint("purpose", "version"),)

    seq: Mapped[int] = seq_column()
    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class VaultCard(Base):
    """A PAN as ``nonce || AES-256-GCM(ciphertext)``; AAD = merchant | pm | key version."""

    __tablename__ = "vault_cards"
    __table_args__ = (
        Index("ix_vault_cards_key_version", "key_version", "seq"),
        Index("ix_vault_cards_payment_method", "merchant_id", "payment_method_id"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    payment_method_id: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime]


class VaultCvc(Base):
    """A CVC until the first authorization or its TTL; then the row is deleted."""

    __tablename__ = "vault_cvcs"
    __table_args__ = (
        Index("ix_vault_cvcs_expires_at", "expires_at"),
        Index("ix_vault_cvcs_payment_method", "merchant_id", "payment_method_id"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    payment_method_id: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime]
    expires_at: Mapped[datetime]


class SubjectKey(Base):
    """A per-customer key (wrapped by a data key) under which the customer's PII is stored.

    Erasure destroys ``wrapped_key`` (crypto-shredding); the PII ciphertext becomes noise.
    """

    __tablename__ = "vault_subject_keys"
    __table_args__ = (
        UniqueConstraint("merchant_id", "subject_id"),
        Index("ix_vault_subject_keys_key_version", "key_version", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created: Mapped[datetime]
    destroyed_at: Mapped[datetime | None]
    # Data residency: the region whose key provider wrapped this key (``vault/regions.py``);
    # None: wrapped by a ``data`` key (``key_version``) of the default provider.
    region: Mapped[str | None] = mapped_column(String(32), default=None)
