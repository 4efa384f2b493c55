from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column


class Merchant(Base):
    __tablename__ = "merchants"

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime]
    # The currency the merchant is paid out in; None: each payment settles in its own currency.
    settlement_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    # Data residency (issue 18): the region whose key provider holds the keys of this
    # merchant's customers' personal data; None: the default provider.
    region: Mapped[str | None] = mapped_column(String(32), default=None)


class ApiKey(Base):
    """An API key, stored only as its SHA-256 digest (keys carry ≥ 190 bits of randomness)."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_merchant", "merchant_id"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(16))  # secret | publishable | restricted
    livemode: Mapped[bool]
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redacted: Mapped[str] = mapped_column(String(40))  # e.g. sk_test_…a1B2
    created: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # issue 17: restricted keys and rolled keys
    name: Mapped[str | None] = mapped_column(String(100))
    # restricted keys: {"permissions": [...], "allowed_ips": [...] | null}; null otherwise
    restrictions: Mapped[dict[str, Any] | None]
    # after this instant the key is refused; the sweeper then revokes it (rolled keys' overlap)
    expires_at: Mapped[datetime | None]


class MerchantOrigin(Base):
    """A web origin (``scheme://host[:port]``) allowed to embed the hosted card fields."""

    __tablename__ = "merchant_origins"
    __table_args__ = (
        UniqueConstraint("merchant_id", "origin"),
        Index("ix_merchant_origins_merchant_seq", "merchant_id", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64), ForeignKey("merchants.id"))
    origin: Mapped[str] = mapped_column(String(300))
    created: Mapped[datetime]
