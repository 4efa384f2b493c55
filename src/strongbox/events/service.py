"""Reading committed events (``/v1/events``) in Stripe's shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from strongbox.core.clock import to_unix
from strongbox.core.errors import ResourceMissingError
from strongbox.db.pagination import Page, PageRequest
from strongbox.events import repository
from strongbox.events.models import OutboxEvent
from strongbox.events.types import API_VERSION


class EventFields(Protocol):
    """What an event's rendering reads: an ``OutboxEvent`` or a row with these columns."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def created(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def idempotency_key(self) -> str | None: ...


def render_event(e: EventFields, livemode: bool = False) -> dict[str, Any]:
    return {
        "id": e.id,
        "object": "event",
        "api_version": API_VERSION,
        "created": to_unix(e.created),
        "data": e.data,
        "livemode": livemode,
        "pending_webhooks": 0,
        "request": {"id": e.request_id, "idempotency_key": e.idempotency_key},
        "type": e.type,
    }


def retrieve(session: Session, merchant_id: str, event_id: str) -> OutboxEvent:
    e = repository.get_event(session, merchant_id, event_id)
    if e is None:
        raise ResourceMissingError(f"No such event: '{event_id}'", param="id")
    return e


def list_(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    types: list[str] | None,
    created: dict[str, int] | None,
) -> Page[OutboxEvent]:
    return repository.list_events(session, merchant_id, page, types=types, created=created)
