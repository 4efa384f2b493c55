"""Bus consumers that apply each event at most once: effectively once with redelivery.

A consumer (``Consumer``) names itself (the consumer group), the event types it handles and
``apply``: what the events do, in the caller's unit of work. ``apply_batch`` records the
batch's event ids in ``processed_events`` and applies only the ids that were new, in one
transaction with their effect; only after that commit are the messages acknowledged. A crash
anywhere before the commit leaves nothing applied and the messages unacknowledged (the bus
delivers them again); a crash after it leaves them recorded (a redelivery is skipped).

On the in-process bus the relay calls consumers directly (``attach_in_process``); on
JetStream or Kafka a ``ConsumerRunner`` per consumer and process pulls batches from the
consumer group (``worker --only``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from strongbox.db.uow import Database, UnitOfWork
from strongbox.events import repository
from strongbox.events.bus import Delivery, Envelope, InMemoryBus, Subscription, matches
from strongbox.events.metrics import CONSUMER_EVENTS, CONSUMER_LAG, CONSUMER_REDELIVERIES

log = logging.getLogger(__name__)

Apply = Callable[[UnitOfWork, list[Envelope]], None]


@dataclass(frozen=True)
class Consumer:
    name: str
    types: tuple[str, ...]
    apply: Apply


def apply_batch(db: Database, consumer: Consumer, envelopes: Sequence[Envelope]) -> int:
    """Apply the events ``consumer`` handles and has not applied yet, in one transaction
    with their processed-events rows. How many were applied."""
    wanted = {str(e["id"]): e for e in envelopes if matches(str(e.get("type", "")), consumer.types)}
    if not wanted:
        return 0
    with db.unit_of_work() as uow:
        new = repository.claim_processed(uow.session, consumer.name, list(wanted), uow.clock.now())
        fresh = [e for i, e in wanted.items() if i in new]
        if fresh:
            consumer.apply(uow, fresh)
        uow.commit()
    CONSUMER_EVENTS.labels(consumer.name, "applied").inc(len(fresh))
    if len(wanted) > len(fresh):
        CONSUMER_EVENTS.labels(consumer.name, "duplicate").inc(len(wanted) - len(fresh))
    return len(fresh)


def attach_in_process(bus: InMemoryBus, db: Database, consumer: Consumer) -> None:
    """The in-process bus calls ``consumer`` with each relay pass's events."""
    bus.subscribe_batch(consumer.types, lambda envs: _apply_in_process(db, consumer, envs))


def _apply_in_process(db: Database, consumer: Consumer, envelopes: list[Envelope]) -> None:
    apply_batch(db, consumer, envelopes)


class ConsumerRunner:
    """One consumer's pull loop on a bus consumer group: fetch, apply, commit, acknowledge."""

    LAG_EVERY_SECONDS = 5.0

    def __init__(
        self,
        db: Database,
        subscribe: Callable[[], Subscription],
        consumer: Consumer,
        *,
        batch: int = 500,
        wait: float = 1.0,
    ) -> None:
        self.db = db
        self._subscribe = subscribe
        self.consumer = consumer
        self.batch = batch
        self.wait = wait
        self._sub: Subscription | None = None
        self._lag_at = 0.0

    @property
    def subscription(self) -> Subscription:
        if self._sub is None:
            self._sub = self._subscribe()
        return self._sub

    def run_once(self) -> int:
        sub = self.subscription
        deliveries = sub.fetch(self.batch, self.wait)
        if deliveries:
            redelivered = sum(1 for d in deliveries if d.redelivered)
            if redelivered:
                CONSUMER_REDELIVERIES.labels(self.consumer.name).inc(redelivered)
            ok, failed = self._apply(deliveries)
            sub.ack(ok)  # only now: their effects are committed
            sub.nak(failed)
        now = time.monotonic()
        if now - self._lag_at >= self.LAG_EVERY_SECONDS:
            self._lag_at = now
            lag = sub.lag()
            if lag is not None:
                CONSUMER_LAG.labels(self.consumer.name).set(lag)
        return len(deliveries)

    def _apply(self, deliveries: list[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
        try:
            apply_batch(self.db, self.consumer, [d.envelope for d in deliveries])
        except Exception:
            log.exception("consumer %s: a batch failed; applying one by one", self.consumer.name)
        else:
            return deliveries, []
        ok: list[Delivery] = []
        failed: list[Delivery] = []
        for d in deliveries:
            try:
                apply_batch(self.db, self.consumer, [d.envelope])
            except Exception:
                log.exception(
                    "consumer %s could not apply event %s; it will be redelivered",
                    self.consumer.name,
                    d.envelope.get("id"),
                )
                CONSUMER_EVENTS.labels(self.consumer.name, "failed").inc()
                failed.append(d)
            else:
                ok.append(d)
        return ok, failed

    def close(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
