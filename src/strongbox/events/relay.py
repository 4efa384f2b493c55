"""Outbox relay: publishes committed events to the bus, at least once, in order per claim."""

from __future__ import annotations

import logging
from datetime import timedelta

from strongbox.db.uow import Database
from strongbox.events import repository
from strongbox.events.bus import Bus
from strongbox.events.types import API_VERSION

log = logging.getLogger(__name__)


def relay_once(db: Database, bus: Bus, *, batch: int = 200) -> int:
    """Claim a batch (short transaction), publish outside any transaction, mark published."""
    with db.unit_of_work() as uow:
        rows = repository.claim_unpublished(
            uow.session, uow.clock.now(), limit=batch, lease=timedelta(seconds=30)
        )
        envelopes = [
            {
                "id": r.id,
                "object": "event",
                "api_version": API_VERSION,
                "type": r.type,
                "merchant_id": r.merchant_id,
                "created": int(r.created.timestamp()),
                "data": r.data,
                "request": {"id": r.request_id, "idempotency_key": r.idempotency_key},
            }
            for r in rows
        ]
        seqs = [r.seq for r in rows]
        uow.commit()
    if not envelopes:
        return 0
    published: list[int] = []
    for seq, env in zip(seqs, envelopes, strict=True):
        try:
            bus.publish(env)
        except Exception:
            log.exception("publishing event %s failed; it will be retried", env["id"])
            break
        published.append(seq)
    if published:
        with db.unit_of_work() as uow:
            repository.mark_published(uow.session, published, uow.clock.now())
            uow.commit()
    return len(published)
