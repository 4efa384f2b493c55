"""API shapes of the audit log: request parameters and rendered objects."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from strongbox.audit import service
from strongbox.audit.models import AuditEntry
from strongbox.core.clock import to_unix
from strongbox.core.params import IdString, IntParam, ListParams, Params

Index = Annotated[IntParam, Field(ge=0)]
Size = Annotated[IntParam, Field(ge=1)]


class ListAuditEventsParams(ListParams):
    actor: IdString | None = None
    action: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    resource: IdString | None = None
    resource_type: Annotated[str, Field(min_length=1, max_length=50)] | None = None


class InclusionParams(Params):
    index: Index
    tree_size: Size | None = None


class ConsistencyParams(Params):
    first: Size
    second: Size


class TreeHeadParams(Params):
    pass


def render_entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "object": "audit_event",
        "sequence": e.leaf_index,
        "created": to_unix(e.created),
        "time": service.format_time(e.created),
        "actor": e.actor,
        "action": e.action,
        "resource": {"type": e.resource_type, "id": e.resource_id},
        "merchant": e.merchant_id,
        "request_id": e.request_id,
        "source_ip": e.source_ip,
        "outcome": e.outcome,
        "before_digest": e.before_digest,
        "after_digest": e.after_digest,
        "event": e.event_id,
        "leaf_hash": e.leaf_hash.hex() if e.leaf_hash is not None else None,
    }
