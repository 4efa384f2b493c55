"""API shapes: Stripe's ``webhook_endpoint`` plus Strongbox's deliveries, attempts and
inbound gateway accounts."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from strongbox.core.clock import to_unix
from strongbox.core.params import (
    BoolParam,
    Description,
    Expand,
    IdString,
    IntParam,
    ListParams,
    Metadata,
    MetadataUpdate,
    Params,
    invalid_param,
)
from strongbox.events.types import API_VERSION
from strongbox.webhooks.models import (
    InboundAccount,
    InboundEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

# Event types Strongbox emits; ``*`` subscribes to all of them (and to future ones).
EVENT_TYPES = frozenset(
    {
        "account.updated",
        "charge.dispute.created",
        "charge.refunded",
        # a PCI DSS self-check that newly failed (issue 18; docs/compliance.md)
        "compliance.control_failed",
        "customer.created",
        "customer.deleted",
        "customer.updated",
        # bank data (issue 20)
        "financial_connections.account.created",
        "financial_connections.account.deactivated",
        "financial_connections.account.disconnected",
        "financial_connections.account.reactivated",
        "financial_connections.account.refreshed_balance",
        "financial_connections.account.refreshed_ownership",
        "financial_connections.account.refreshed_transactions",
        # Strongbox extensions: a gateway success reported after its attempt was resolved as
        # failed, and the automatic reversal of a charge its intent could not take
        "payment_attempt.late_success",
        "payment_attempt.reversal_failed",
        "payment_attempt.reversed",
        "payment_intent.amount_capturable_updated",
        "payment_intent.canceled",
        "payment_intent.created",
        "payment_intent.payment_failed",
        "payment_intent.processing",  # an ACH debit sent, not settled yet (issue 20)
        "payment_intent.requires_action",
        "payment_intent.succeeded",
        "payment_intent.updated",
        "payment_method.attached",
        "payment_method.detached",
        # payouts (issue 19)
        "payout.canceled",
        "payout.created",
        "payout.failed",
        "payout.paid",
        "refund.created",
        "refund.failed",
        "refund.updated",
        "webhook_endpoint.disabled",
    }
)
CONNECTORS = ("stripe", "braintree", "adyen", "simulator")
MAX_ROTATION_OVERLAP = 7 * 24 * 3600
DEFAULT_ROTATION_OVERLAP = 24 * 3600


def _check_events(value: list[str]) -> list[str]:
    if not value:
        raise invalid_param("{param} must list at least one event type (or '*').")
    for v in value:
        if v != "*" and v not in EVENT_TYPES:
            raise invalid_param(
                "Invalid {param}: unknown event type. Use '*' or one of the documented types."
            )
    return sorted(set(value))


def _check_url(value: str) -> str:
    from strongbox.webhooks.ssrf import DestinationRefused, parse_url

    try:
        parse_url(value)
    except DestinationRefused as exc:
        raise invalid_param(f"Invalid URL ({{param}}): {exc}.", code="url_invalid") from None
    return value


def _check_overlap(value: int) -> int:
    if not 0 <= value <= MAX_ROTATION_OVERLAP:
        raise invalid_param(
            "{param} must be between 0 and 604800 seconds (7 days).",
            code="parameter_invalid_integer",
        )
    return value


EnabledEvents = Annotated[
    list[Annotated[str, Field(max_length=100)]], AfterValidator(_check_events)
]
Url = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_check_url)]
Overlap = Annotated[IntParam, AfterValidator(_check_overlap)]
_SECRET_RE = re.compile(r"[\x21-\x7e]{8,256}")


def _check_secret(value: str) -> str:
    if not _SECRET_RE.fullmatch(value):
        raise invalid_param("{param} must be 8-256 printable characters without spaces.")
    return value


SigningSecret = Annotated[str, AfterValidator(_check_secret)]
# Basic auth user names: printable, no colon (RFC 7617).
BasicAuthUser = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x39\x3b-\x7e]+$")
]


class CreateEndpointParams(Params):
    url: Url
    enabled_events: EnabledEvents
    description: Description | None = None
    metadata: Metadata | None = None
    api_version: Literal["2024-06-20"] | None = None
    ed25519: BoolParam = False  # Strongbox: also sign with Ed25519 (v1a)
    expand: Expand | None = None


class UpdateEndpointParams(Params):
    url: Url | None = None
    enabled_events: EnabledEvents | None = None
    description: Description | None = None
    metadata: MetadataUpdate | None = None
    disabled: BoolParam | None = None
    expand: Expand | None = None


class RotateSecretParams(Params):
    expires_in: Overlap = DEFAULT_ROTATION_OVERLAP
    expand: Expand | None = None


class RedeliverParams(Params):
    event: IdString
    expand: Expand | None = None


class ListAttemptsParams(ListParams):
    event: IdString | None = None


class CreateInboundAccountParams(Params):
    connector: Literal["stripe", "braintree", "adyen", "simulator"]
    account: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    description: Description | None = None
    signing_secret: SigningSecret | None = None  # stripe, simulator; adyen: the hex HMAC key
    public_key: Annotated[str, Field(min_length=1, max_length=128)] | None = None  # braintree
    private_key: SigningSecret | None = None  # braintree
    basic_auth_username: BasicAuthUser | None = None  # adyen, optional
    basic_auth_password: SigningSecret | None = None  # adyen, optional
    expand: Expand | None = None


class UpdateInboundAccountParams(Params):
    description: Description | None = None
    signing_secret: SigningSecret | None = None
    private_key: SigningSecret | None = None
    public_key: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    basic_auth_username: BasicAuthUser | None = None
    basic_auth_password: SigningSecret | None = None
    previous_secret_expires_in: Overlap = DEFAULT_ROTATION_OVERLAP
    expand: Expand | None = None


class ListInboundEventsParams(ListParams):
    status: Literal["pending", "processed", "ignored", "failed"] | None = None


def render_endpoint(e: WebhookEndpoint, livemode: bool = False) -> dict[str, Any]:
    return {
        "id": e.id,
        "object": "webhook_endpoint",
        "api_version": e.api_version or API_VERSION,
        "application": None,
        "created": to_unix(e.created),
        "description": e.description,
        "enabled_events": list(e.enabled_events),
        "livemode": livemode,
        "metadata": dict(e.metadata_),
        "status": e.status,
        "url": e.url,
        "ed25519_public_key": e.ed25519_public_key,
        "disabled_reason": e.disabled_reason,
        "secret_rotation_expires_at": (
            to_unix(e.previous_secret_expires_at) if e.previous_secret_expires_at else None
        ),
    }


def render_delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "object": "webhook_delivery",
        "attempts": d.attempts,
        "created": to_unix(d.created),
        "endpoint": d.endpoint_id,
        "event": d.event_id,
        "event_type": d.event_type,
        "last_status_code": d.last_status_code,
        "next_attempt_at": to_unix(d.next_attempt_at) if d.next_attempt_at else None,
        "status": d.status,
    }


def render_attempt(a: WebhookAttempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "webhook_attempt",
        "created": to_unix(a.created),
        "delivery": a.delivery_id,
        "endpoint": a.endpoint_id,
        "error": a.error,
        "event": a.event_id,
        "latency_ms": a.latency_ms,
        "next_attempt_at": to_unix(a.next_attempt_at) if a.next_attempt_at else None,
        "number": a.number,
        "outcome": a.outcome,
        "response_excerpt": a.response_excerpt,
        "status_code": a.status_code,
        "trigger": a.trigger,
    }


def render_inbound_account(a: InboundAccount, public_url: str) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "inbound_webhook_account",
        "account": a.account,
        "connector": a.connector,
        "created": to_unix(a.created),
        "description": a.description,
        "public_key": a.public_key,
        "basic_auth_username": a.basic_auth_username,
        "secret_rotation_expires_at": (
            to_unix(a.previous_secret_expires_at) if a.previous_secret_expires_at else None
        ),
        "url": f"{public_url.rstrip('/')}/v1/webhooks/inbound/{a.connector}/{a.id}",
    }


def render_inbound_event(e: InboundEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "object": "inbound_webhook_event",
        "account": e.account_id,
        "connector": e.connector,
        "processed_at": to_unix(e.processed_at) if e.processed_at else None,
        "provider_event_id": e.provider_event_id,
        "received_at": to_unix(e.received_at),
        "result": e.result,
        "status": e.status,
        "type": e.type,
    }
