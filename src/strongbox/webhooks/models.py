"""Webhook tables: outbound endpoints, deliveries and attempts; inbound accounts and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, JSONType, seq_column


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(1000))
    enabled_events: Mapped[list[str]] = mapped_column(JSONType)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    status: Mapped[str] = mapped_column(String(16))  # enabled | disabled
    disabled_reason: Mapped[str | None] = mapped_column(String(64))
    api_version: Mapped[str] = mapped_column(String(32))
    # Sealed ``whsec_…`` secrets; the previous one is still signed with until it expires.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]
    # Optional Ed25519 (v1a) signing key: sealed raw private key, and the public ``whpk_…``.
    ed25519_private_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    ed25519_public_key: Mapped[str | None] = mapped_column(String(128))
    # A delivery worker holds the endpoint while it delivers, so deliveries go in order.
    claimed_until: Mapped[datetime | None]
    created: Mapped[datetime]
    updated: Mapped[datetime]


class WebhookDelivery(Base):
    """One event to one endpoint: retried on its schedule until it succeeds or gives up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "status", "event_seq"),
        Index("ix_webhook_deliveries_merchant_seq", "merchant_id", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    event_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by every manual redelivery: a worker records a result only on the generation it
    # claimed, so an attempt in flight when a redelivery is asked never counts as it.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    manual: Mapped[bool]  # the next attempt was asked for by the merchant (redelivery)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime]
    updated: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """Every HTTP attempt of a delivery, with its outcome."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_merchant_seq", "merchant_id", "seq"),
        Index("ix_webhook_attempts_delivery", "delivery_id", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))  # scheduled | manual
    outcome: Mapped[str] = mapped_column(String(16))  # succeeded | failed
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    response_excerpt: Mapped[str | None] = mapped_column(String(1100))
    next_attempt_at: Mapped[datetime | None]
    created: Mapped[datetime]


class FanoutCursor(Base):
    """How far the fan-out has read the outbox (every event at or below ``seq`` is done)."""

    __tablename__ = "webhook_fanout_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    updated: Mapped[datetime]


class InboundAccount(Base):
    """A gateway account that may post events to ``/v1/webhooks/inbound/{connector}/{id}``."""

    __tablename__ = "inbound_webhook_accounts"
    __table_args__ = (Index("ix_inbound_webhook_accounts_merchant_seq", "merchant_id", "seq"),)

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    connector: Mapped[str] = mapped_column(String(32))  # stripe | braintree | adyen | simulator
    account: Mapped[str | None] = mapped_column(String(128))  # the gateway's account label
    description: Mapped[str | None] = mapped_column(String(1000))
    # Stripe/simulator: the signing secret; Braintree: the private key. Sealed.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]
    public_key: Mapped[str | None] = mapped_column(String(128))  # Braintree public key
    # Adyen: optional Basic auth on the endpoint (the password sealed).
    basic_auth_username: Mapped[str | None] = mapped_column(String(128))
    basic_auth_password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created: Mapped[datetime]
    updated: Mapped[datetime]


class InboundEvent(Base):
    """A verified gateway event, stored once per provider event id, processed later."""

    __tablename__ = "inbound_webhook_events"
    __table_args__ = (
        UniqueConstraint("account_id", "provider_event_id", name="uq_inbound_events_provider"),
        Index("ix_inbound_events_pending", "status", "seq"),
        Index("ix_inbound_events_merchant_seq", "merchant_id", "seq"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(64))
    connector: Mapped[str] = mapped_column(String(32))
    provider_event_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # pending | processed | ignored | failed
    result: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
