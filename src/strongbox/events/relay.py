"""Outbox relay: publishes committed events to the bus, at least once, in order per claim.

A pass claims the oldest unpublished events (a short transaction: a lease on the rows), then
publishes them outside any transaction, in ``seq`` order, and marks what the bus
acknowledged. A bus with ``publish_batch`` (every backend of ``events/bus.py``) takes the
whole claim at once and answers how long a prefix it stored; the rest is given back at once,
so that the next pass starts with it and a merchant's events keep their order. One relay
process at a time keeps that order across passes (docs/events.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any

from strongbox.db.uow import Database
from strongbox.events import repository
from strongbox.events.bus import Bus, Envelope
from strongbox.events.metrics import RELAY_LAG, RELAY_PUBLISHED
from strongbox.events.types import API_VERSION

log = logging.getLogger(__name__)


def envelope_of(r: Any) -> Envelope:
    """The bus message of an outbox row (an ``OutboxEvent`` or a row of its columns)."""
    return {
        "id": r.id,
        "object": "event",
        "api_version": API_VERSION,
        "type": r.type,
        "merchant_id": r.merchant_id,
        "created": int(r.created.replace(tzinfo=r.created.tzinfo or UTC).timestamp()),
        "data": r.data,
        "request": {"id": r.request_id, "idempotency_key": r.idempotency_key},
    }


def _publish(bus: Bus, envelopes: Sequence[Envelope]) -> int:
    batch: Any = getattr(bus, "publish_batch", None)
    if batch is not None:
        try:
            return int(batch(envelopes))
        except Exception:
            log.exception("publishing a batch of %d events failed; retried", len(envelopes))
            return 0
    done = 0
    for env in envelopes:
        try:
            bus.publish(env)
        except Exception:
            log.exception("publishing event %s failed; it will be retried", env["id"])
            break
        done += 1
    return done


def relay_once(db: Database, bus: Bus, *, batch: int = 200) -> int:
    """Claim a batch (short transaction), publish outside any transaction, mark published."""
    with db.unit_of_work() as uow:
        now = uow.clock.now()
        rows = repository.claim_unpublished(
            uow.session, now, limit=batch, lease=timedelta(seconds=30)
        )
        envelopes = [envelope_of(r) for r in rows]
        seqs = [r.seq for r in rows]
        if rows:
            first = rows[0].created
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
            RELAY_LAG.set(max(0.0, (now - first).total_seconds()))
        uow.commit()
    if not envelopes:
        RELAY_LAG.set(0.0)
        return 0
    n = _publish(bus, envelopes)
    with db.unit_of_work() as uow:
        repository.mark_published(uow.session, seqs[:n], uow.clock.now())
        repository.release_claims(uow.session, seqs[n:])
        uow.commit()
    RELAY_PUBLISHED.inc(n)
    return n
