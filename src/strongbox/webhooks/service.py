"""Outbound webhook rules: endpoints (Stripe's API), secrets, fan-out, results, redelivery.

Secrets are sealed with the runtime's ``Sealer`` (AAD ``merchant|endpoint|purpose``): stored,
usable by the delivery worker, never readable at rest, shown to the merchant once.
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import IntegrityError

from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.core.sealing import Sealer
from strongbox.core.secret import Secret
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events import repository as events_repo
from strongbox.events.types import API_VERSION, RequestContext, raise_event
from strongbox.webhooks import repository as repo
from strongbox.webhooks import signing
from strongbox.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from strongbox.webhooks.schemas import (
    CreateEndpointParams,
    UpdateEndpointParams,
    render_endpoint,
)

# Standard Webhooks' example schedule: the delay before attempt n+1 after attempt n failed.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1  # the first try, then every retry
JITTER = 0.1  # +-10 %
MAX_RETRY_AFTER = timedelta(hours=24)
SYSTEM_ACTOR = "system:webhooks"


def _aad(merchant_id: str, endpoint_id: str, purpose: str) -> bytes:
    return f"{merchant_id}|{endpoint_id}|{purpose}".encode()


def _internal(uow: UnitOfWork, ctx: RequestContext, type_: str, e: WebhookEndpoint) -> None:
    obj = {"id": e.id, "url": e.url, "status": e.status}
    raise_event(uow, ctx, type_, "webhook_endpoint", e.id, obj, merchant_id=e.merchant_id)


def require_endpoint(
    uow: UnitOfWork, ctx: RequestContext, endpoint_id: str, *, lock: bool = False
) -> WebhookEndpoint:
    e = repo.get_endpoint(uow.session, ctx.merchant_id, endpoint_id, lock=lock)
    if e is None:
        raise ResourceMissingError(f"No such webhook endpoint: '{endpoint_id}'", param="id")
    return e


def create_endpoint(
    uow: UnitOfWork, ctx: RequestContext, sealer: Sealer, p: CreateEndpointParams
) -> tuple[WebhookEndpoint, Secret[str]]:
    now = uow.clock.now()
    endpoint_id = new_id("webhook_endpoint")
    secret = signing.new_secret()
    e = WebhookEndpoint(
        id=endpoint_id,
        merchant_id=ctx.merchant_id,
        url=p.url,
        description=p.description or None,
        enabled_events=list(p.enabled_events),
        metadata_=dict(p.metadata or {}),
        status="enabled",
        disabled_reason=None,
        api_version=p.api_version or API_VERSION,
        secret_sealed=sealer.seal(
            secret.reveal().encode(), _aad(ctx.merchant_id, endpoint_id, "secret")
        ),
        previous_secret_sealed=None,
        previous_secret_expires_at=None,
        ed25519_private_sealed=None,
        ed25519_public_key=None,
        claimed_until=None,
        created=now,
        updated=now,
    )
    if p.ed25519:
        private, public = signing.new_ed25519_key()
        e.ed25519_private_sealed = sealer.seal(
            private.reveal(), _aad(ctx.merchant_id, endpoint_id, "ed25519")
        )
        e.ed25519_public_key = public
    uow.session.add(e)
    uow.flush()
    _internal(uow, ctx, "strongbox.webhook_endpoint.created", e)
    return e, secret


def update_endpoint(
    uow: UnitOfWork, ctx: RequestContext, endpoint_id: str, p: UpdateEndpointParams
) -> WebhookEndpoint:
    e = require_endpoint(uow, ctx, endpoint_id, lock=True)
    if p.url is not None:
        e.url = p.url
    if p.enabled_events is not None:
        e.enabled_events = list(p.enabled_events)
    if p.description is not None:
        e.description = p.description or None
    if p.metadata is not None:
        if isinstance(p.metadata, str):
            e.metadata_ = {}
        else:
            merged = dict(e.metadata_)
            for k, v in p.metadata.items():
                if v == "":
                    merged.pop(k, None)
                else:
                    merged[k] = v
            if len(merged) > 50:
                raise InvalidRequestError(
                    "You can specify up to 50 metadata keys.",
                    param="metadata",
                    code="parameter_invalid",
                )
            e.metadata_ = merged
    if p.disabled is not None:
        e.status = "disabled" if p.disabled else "enabled"
        e.disabled_reason = "disabled_by_merchant" if p.disabled else None
    e.updated = uow.clock.now()
    uow.flush()
    _internal(uow, ctx, "strongbox.webhook_endpoint.updated", e)
    return e


def delete_endpoint(uow: UnitOfWork, ctx: RequestContext, endpoint_id: str) -> dict[str, Any]:
    e = require_endpoint(uow, ctx, endpoint_id, lock=True)
    repo.cancel_pending_deliveries(uow.session, ctx.merchant_id, e.id, uow.clock.now())
    _internal(uow, ctx, "strongbox.webhook_endpoint.deleted", e)
    uow.session.delete(e)
    uow.flush()
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def rotate_secret(
    uow: UnitOfWork, ctx: RequestContext, sealer: Sealer, endpoint_id: str, expires_in: int
) -> tuple[WebhookEndpoint, Secret[str]]:
    """A new secret; the current one keeps signing for ``expires_in`` seconds (both sent)."""
    e = require_endpoint(uow, ctx, endpoint_id, lock=True)
    now = uow.clock.now()
    current = sealer.unseal(e.secret_sealed, _aad(e.merchant_id, e.id, "secret"))
    secret = signing.new_secret()
    if expires_in > 0:
        e.previous_secret_sealed = sealer.seal(current, _aad(e.merchant_id, e.id, "previous"))
        e.previous_secret_expires_at = now + timedelta(seconds=expires_in)
    else:
        e.previous_secret_sealed = None
        e.previous_secret_expires_at = None
    e.secret_sealed = sealer.seal(secret.reveal().encode(), _aad(e.merchant_id, e.id, "secret"))
    e.updated = now
    uow.flush()
    _internal(uow, ctx, "strongbox.webhook_endpoint.secret_rotated", e)
    return e, secret


def signing_keys(e: WebhookEndpoint, sealer: Sealer, now: datetime) -> signing.SigningKeys:
    keys = [
        signing.secret_bytes(
            Secret(sealer.unseal(e.secret_sealed, _aad(e.merchant_id, e.id, "secret")).decode())
        )
    ]
    if (
        e.previous_secret_sealed is not None
        and e.previous_secret_expires_at is not None
        and e.previous_secret_expires_at > now
    ):
        prev = sealer.unseal(e.previous_secret_sealed, _aad(e.merchant_id, e.id, "previous"))
        keys.append(signing.secret_bytes(Secret(prev.decode())))
    ed: list[Ed25519PrivateKey] = []
    if e.ed25519_private_sealed is not None:
        raw = sealer.unseal(e.ed25519_private_sealed, _aad(e.merchant_id, e.id, "ed25519"))
        ed.append(Ed25519PrivateKey.from_private_bytes(raw))
    return signing.SigningKeys(tuple(keys), tuple(ed))


def list_endpoints(
    uow: UnitOfWork, ctx: RequestContext, page: PageRequest, created: dict[str, int] | None
) -> Page[WebhookEndpoint]:
    return repo.list_endpoints(uow.session, ctx.merchant_id, page, created)


def list_attempts(
    uow: UnitOfWork,
    ctx: RequestContext,
    endpoint_id: str,
    page: PageRequest,
    event: str | None,
    created: dict[str, int] | None,
) -> Page[WebhookAttempt]:
    require_endpoint(uow, ctx, endpoint_id)
    return repo.list_attempts(uow.session, ctx.merchant_id, endpoint_id, page, event, created)


def list_deliveries(
    uow: UnitOfWork,
    ctx: RequestContext,
    endpoint_id: str,
    page: PageRequest,
    created: dict[str, int] | None,
) -> Page[WebhookDelivery]:
    require_endpoint(uow, ctx, endpoint_id)
    return repo.list_deliveries(uow.session, ctx.merchant_id, endpoint_id, page, created)


def matches(enabled_events: Sequence[str], event_type: str) -> bool:
    return any(p == "*" or fnmatch.fnmatchcase(event_type, p) for p in enabled_events)


def redeliver(
    uow: UnitOfWork, ctx: RequestContext, endpoint_id: str, event_id: str
) -> WebhookDelivery:
    """Deliver ``event_id`` to the endpoint again, now (a new delivery if it had none)."""
    e = require_endpoint(uow, ctx, endpoint_id, lock=True)
    event = events_repo.get_event(uow.session, ctx.merchant_id, event_id)
    if event is None:
        raise ResourceMissingError(f"No such event: '{event_id}'", param="event")
    if e.status != "enabled":
        raise InvalidRequestError(
            "This webhook endpoint is disabled; enable it before redelivering events.",
            code="webhook_endpoint_disabled",
            param="id",
        )
    now = uow.clock.now()
    d = repo.get_delivery(uow.session, ctx.merchant_id, e.id, event.id)
    if d is None:
        try:
            # The fan-out may insert the same (endpoint, event) delivery meanwhile: a
            # savepoint keeps the unit of work usable when the unique key says so.
            with uow.session.begin_nested():
                d = _new_delivery(e, event.id, event.seq, event.type, now)
                d.manual = True
                uow.session.add(d)
            return d
        except IntegrityError:
            d = repo.get_delivery(uow.session, ctx.merchant_id, e.id, event.id)
            if d is None:
                raise
    # A redelivery starts the schedule again: attempts restart from the first. A new
    # generation: an attempt in flight now is recorded, but does not count as this one.
    d.generation += 1
    d.status = "pending"
    d.attempts = 0
    d.next_attempt_at = now
    d.completed_at = None
    d.updated = now
    d.manual = True
    uow.flush()
    return d


def _new_delivery(
    e: WebhookEndpoint, event_id: str, event_seq: int, event_type: str, now: datetime
) -> WebhookDelivery:
    return WebhookDelivery(
        id=new_id("webhook_delivery"),
        merchant_id=e.merchant_id,
        endpoint_id=e.id,
        event_id=event_id,
        event_seq=event_seq,
        event_type=event_type,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        manual=False,
        last_status_code=None,
        created=now,
        updated=now,
        completed_at=None,
    )


# ---------------------------------------------------------------- fan-out


def fanout_once(uow: UnitOfWork, *, batch: int = 500, grace: timedelta | None = None) -> int:
    """Create deliveries for committed events not yet fanned out, in event order.

    Each event's deliveries and its processed-events record commit together (at least once,
    never twice). The cursor only moves past events old enough that no open transaction can
    still commit one below it.
    """
    now = uow.clock.now()
    cursor = repo.lock_cursor(uow.session, now)
    events = repo.unprocessed_events(uow.session, cursor.seq, batch)
    cache: dict[str, list[WebhookEndpoint]] = {}
    existing = repo.existing_pairs(uow.session, [ev.id for ev in events])
    made = 0
    for ev in events:
        endpoints = cache.get(ev.merchant_id)
        if endpoints is None:
            endpoints = cache[ev.merchant_id] = repo.enabled_endpoints(uow.session, ev.merchant_id)
        for e in endpoints:
            if (
                matches(e.enabled_events, ev.type)
                and ev.created >= e.created
                and (e.id, ev.id) not in existing
            ):
                uow.session.add(_new_delivery(e, ev.id, ev.seq, ev.type, now))
                made += 1
    events_repo.mark_processed_many(
        uow.session, repo.FANOUT_CONSUMER, [ev.id for ev in events], now
    )
    uow.flush()
    cursor.seq = repo.safe_cursor(uow.session, cursor.seq, now - (grace or timedelta(minutes=5)))
    cursor.updated = now
    return len(events)


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery as a worker claimed it; its result is written on this state only."""

    delivery_id: str
    merchant_id: str
    endpoint_id: str
    event_id: str
    generation: int  # bumped by a redelivery: a result of an older generation moves nothing
    attempts: int  # attempts made before this one
    manual: bool


@dataclass(slots=True)
class AttemptResult:
    claimed: Claimed
    status_code: int | None
    latency_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None  # seconds, from the Retry-After header
    started_at: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_delay(attempts: int, rng: random.Random, retry_after: float | None) -> timedelta | None:
    """The wait before the next attempt after ``attempts`` failed ones (None: give up)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_SCHEDULE[attempts - 1]
    delay = base * (1 + rng.uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = max(timedelta(seconds=retry_after), delay)
    return min(delay, MAX_RETRY_AFTER)


def _outcome(
    r: AttemptResult, now: datetime, rng: random.Random
) -> tuple[repo.DeliveryUpdate, str | None]:
    """Where the delivery goes after this attempt, and why to disable the endpoint if so."""
    c = r.claimed
    number = c.attempts + 1
    status, next_at, reason = "pending", None, None
    if r.succeeded:
        status = "succeeded"
    elif r.status_code == 410:
        status, reason = "failed", "gone"
    else:
        retry_after = r.retry_after if r.status_code in (429, 502, 503, 504) else None
        delay = next_delay(number, rng, retry_after)
        if delay is None:
            status, reason = "failed", "retries_exhausted"
        else:
            next_at = now + delay
    done = now if status != "pending" else None
    update = repo.DeliveryUpdate(
        c.delivery_id, c.generation, status, number, next_at, done, r.status_code
    )
    return update, reason


def record_results(
    uow: UnitOfWork, endpoint_id: str, results: list[AttemptResult], rng: random.Random
) -> None:
    """Release the endpoint a worker held, store its attempts and move each delivery on:
    done, rescheduled, or given up. A few statements per batch, whatever its size.

    A result is written on the delivery only if the delivery is still pending in the
    generation the worker claimed. A redelivery asked for while the attempt was in flight
    bumped the generation: the attempt is recorded, but the delivery stays pending for the
    redelivery. A delivery canceled meanwhile (endpoint deleted) is left alone.
    """
    now = uow.clock.now()
    # After a failure the endpoint's other due deliveries wait too (at least the first retry
    # delay), so a dead endpoint is not hammered and does not crowd the others. The endpoint
    # is written first: its row lock, then the deliveries, the order the API takes them in.
    failing = bool(results) and not results[-1].succeeded
    until = now + RETRY_SCHEDULE[0] if failing else None
    repo.release_endpoints(uow.session, [endpoint_id], until)
    if not results:
        return
    outcomes = [_outcome(r, now, rng) for r in results]
    current = repo.update_current_deliveries(uow.session, [u for u, _ in outcomes], now)
    # Results that moved nothing: an older generation (a redelivery was asked for while the
    # attempt was in flight) is still logged; a delivery canceled meanwhile, or finished by
    # a worker after a lapsed claim, is left alone. Rare, so read only then.
    missed = [r.claimed.delivery_id for r in results if r.claimed.delivery_id not in current]
    states = repo.delivery_states(uow.session, missed) if missed else {}
    attempts: list[dict[str, Any]] = []
    disable: str | None = None
    for r, (update, reason) in zip(results, outcomes, strict=True):
        c = r.claimed
        if c.delivery_id in current:
            disable = disable or reason
        else:
            state = states.get(c.delivery_id)
            if state is None or state[0] == c.generation:
                continue
        attempts.append(
            {
                "id": new_id("webhook_attempt"),
                "merchant_id": c.merchant_id,
                "delivery_id": c.delivery_id,
                "endpoint_id": c.endpoint_id,
                "event_id": c.event_id,
                "number": c.attempts + 1,
                "trigger": "manual" if c.manual else "scheduled",
                "outcome": "succeeded" if r.succeeded else "failed",
                "status_code": r.status_code,
                "latency_ms": r.latency_ms,
                "error": r.error[:200] if r.error else None,
                "response_excerpt": r.excerpt,
                "next_attempt_at": update.next_attempt_at if c.delivery_id in current else None,
                "created": r.started_at or now,
            }
        )
    repo.insert_attempts(uow.session, attempts)
    if disable is not None:
        e = repo.endpoints_by_id(uow.session, [endpoint_id], lock=True).get(endpoint_id)
        if e is not None and e.status == "enabled":
            disable_endpoint(uow, e, disable)


def disable_endpoint(uow: UnitOfWork, e: WebhookEndpoint, reason: str) -> None:
    """Disable after a 410 or the last retry, and tell the merchant with an event."""
    e.status = "disabled"
    e.disabled_reason = reason
    e.updated = uow.clock.now()
    uow.flush()
    ctx = RequestContext(merchant_id=e.merchant_id, actor=SYSTEM_ACTOR)
    raise_event(
        uow,
        ctx,
        "webhook_endpoint.disabled",
        "webhook_endpoint",
        e.id,
        render_endpoint(e),
        previous={"status": "enabled"},
    )
