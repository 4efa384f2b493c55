"""Settlement's background loops: the bus consumer (JetStream or Kafka) and the window closer.

On the in-process bus the relay calls the settlement consumer itself (``runtime.py``); on a
real bus each worker process pulls the ``settlement`` consumer group (any number of
processes share it). The closer closes every window whose end has passed; it runs often
(``CLOSE_EVERY_SECONDS``) so that a batch follows its window's end within about a second.
"""

from __future__ import annotations

import logging
from pathlib import Path

from strongbox.events.bus import InMemoryBus, Subscription
from strongbox.events.consumer import ConsumerRunner
from strongbox.runtime import Runtime
from strongbox.settlement import payouts, schedule
from strongbox.settlement.closing import close_due
from strongbox.workers.loops import Loop

log = logging.getLogger(__name__)

CLOSE_EVERY_SECONDS = 0.25
PAYOUTS_EVERY_SECONDS = 5.0


def settlement_dir(rt: Runtime) -> Path:
    return rt.settings.settlement_dir or (rt.settings.data_dir / "settlement")


def close_once(rt: Runtime) -> int:
    with rt.db.unit_of_work() as uow:
        closed = close_due(uow, rt.ledger, directory=settlement_dir(rt))
        uow.commit()
    return len(closed)


def payouts_once(rt: Runtime) -> int:
    """Today's automatic payouts, then every pending payout whose arrival date has come."""
    with rt.db.unit_of_work() as uow:
        made = schedule.sweep_due(uow, rt.ledger)
        uow.commit()
    with rt.db.unit_of_work() as uow:
        sent = payouts.settle_due(uow, rt.ledger)
        uow.commit()
    return made + sent


def settlement_loops(rt: Runtime) -> list[Loop]:
    loops = [
        Loop("settlement-closer", lambda: close_once(rt), CLOSE_EVERY_SECONDS),
        Loop("payouts", lambda: payouts_once(rt), PAYOUTS_EVERY_SECONDS),
    ]
    bus = rt.bus
    if rt.settlement is not None and not isinstance(bus, InMemoryBus):
        consumer = rt.settlement.consumer()

        def subscribe() -> Subscription:
            sub = bus.subscribe_group(consumer.name, consumer.types)
            assert sub is not None  # a real bus (not in-process) has consumer groups
            return sub

        runner = ConsumerRunner(rt.db, subscribe, consumer)
        loops.append(Loop("settlement-consumer", runner.run_once, 0.05))
    return loops
