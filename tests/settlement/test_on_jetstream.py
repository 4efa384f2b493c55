"""Settlement on NATS JetStream: the relay publishes, the settlement consumer group applies."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from settlement.helpers import world
from strongbox.core.settings import Settings
from strongbox.events.jetstream import JetStreamBus
from strongbox.events.models import ProcessedEvent
from strongbox.workers.loops import build_workers
from strongbox.workers.settlement import close_once
from support import wait_until


def test_settlement_consumes_from_jetstream_in_worker_loops(
    settings: Settings, nats_url: str, bus_stream: str
) -> None:
    with world(settings, bus_url=nats_url, bus_stream=bus_stream) as w:
        assert isinstance(w.rt.bus, JetStreamBus)
        workers = build_workers(w.rt, {"relay", "settlement"})
        assert sorted(loop.short_name for loop in workers.loops) == [
            "outbox-relay",
            "settlement-closer",
            "settlement-consumer",
        ]
        workers.start()
        try:
            for amount in (1_000, 2_000, 3_000):
                w.pay(amount)
            wait_until(lambda: len(w.entries()) == 3, "three entries from the bus")
        finally:
            workers.stop()
        assert w.rt.bus.published == 6  # created + succeeded, three times
        with w.rt.db.read() as s:
            applied = s.scalar(
                sa.select(sa.func.count())
                .select_from(ProcessedEvent)
                .where(ProcessedEvent.consumer == "settlement")
            )
        assert applied == 3  # the money events; the others were acknowledged untouched
        w.clock.advance(timedelta(minutes=5))
        assert close_once(w.rt) == 1
        assert [b.net for b in w.batches()] == [6_000]
        assert w.balance() == (0, 6_000)
