"""Domain events: what happened, to which object, raised inside a unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from strongbox.core.ids import new_id

if TYPE_CHECKING:
    from strongbox.db.uow import UnitOfWork

API_VERSION = "2024-06-20"
INTERNAL_PREFIX = "strongbox."


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who caused a change: carried into events (and later the audit log). No secrets."""

    merchant_id: str
    actor: str  # api key id, "system:<worker>", or "cli"
    request_id: str | None = None
    idempotency_key: str | None = None
    idempotency_record_id: str | None = None  # our row id for the client's key
    source_ip: str | None = None
    livemode: bool = False
    # The merchant's settlement currency, as its API key resolved it (payments record it)
    settlement_currency: str | None = None


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """``type`` uses Stripe's names (``payment_intent.succeeded``); ``data`` is the object
    as the API renders it, after the change, plus the attributes it had before.

    ``internal`` events (types prefixed ``strongbox.``, such as ``strongbox.vault.detokenized``
    or ``strongbox.key.rotated``) run the in-transaction subscribers (the audit log) but are
    not written to the outbox: they never reach ``/v1/events``, webhooks or the bus.
    """

    id: str
    type: str
    merchant_id: str
    resource_type: str
    resource_id: str
    object: dict[str, Any]
    created: datetime
    context: RequestContext
    previous_attributes: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    internal: bool = False

    def stripe_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self.object}
        if self.previous_attributes:
            data["previous_attributes"] = self.previous_attributes
        return data


def raise_event(
    uow: UnitOfWork,
    ctx: RequestContext,
    type_: str,
    resource_type: str,
    resource_id: str,
    obj: dict[str, Any],
    *,
    merchant_id: str | None = None,
    previous: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> DomainEvent:
    """Build a domain event for a change made by ``ctx`` and raise it in ``uow``.

    Types prefixed ``strongbox.`` are internal (audit only, never in the outbox).
    """
    event = DomainEvent(
        id=new_id("event"),
        type=type_,
        merchant_id=merchant_id or ctx.merchant_id,
        resource_type=resource_type,
        resource_id=resource_id,
        object=obj,
        created=uow.clock.now(),
        context=ctx,
        previous_attributes=previous,
        extra=extra or {},
        internal=type_.startswith(INTERNAL_PREFIX),
    )
    uow.raise_event(event)
    return event
