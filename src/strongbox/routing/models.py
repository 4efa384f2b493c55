"""Tables: connector accounts (a merchant's sealed gateway credentials) and routing configs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column


class ConnectorAccount(Base):
    __tablename__ = "connector_accounts"
    __table_args__ = (Index("ix_connector_accounts_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    connector: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    # Sealed JSON object of the secret credential fields (``Sealer``, aad = merchant|id).
    sealed_credentials: Mapped[bytes] = mapped_column(LargeBinary)
    # Redacted hints per credential field ("sk_t…4242"): all the API ever shows.
    credential_hints: Mapped[dict[str, Any]]
    settings: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # enabled | disabled
    created: Mapped[datetime]
    updated: Mapped[datetime]


class RoutingConfig(Base):
    __tablename__ = "routing_configs"
    __table_args__ = (UniqueConstraint("merchant_id", name="uq_routing_configs_merchant"),)

    seq: Mapped[int] = seq_column()
    merchant_id: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer)
    updated: Mapped[datetime]
