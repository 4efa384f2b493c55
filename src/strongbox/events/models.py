from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column


class OutboxEvent(Base):
    """A committed domain event: the outbox the relay publishes, and ``/v1/events``."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_merchant_seq", "merchant_id", "seq"),
        Index("ix_events_unpublished", "published_at", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    request_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime]
    published_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]


class ProcessedEvent(Base):
    """Consumers record each event id here in the same transaction as its effect."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime]
