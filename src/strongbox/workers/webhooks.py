"""Webhook background loops: fan-out of committed events, deliveries, inbound processing."""

from __future__ import annotations

import asyncio
import logging

from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments import gateway_reports
from strongbox.payments.reports import GatewayReport
from strongbox.runtime import Runtime
from strongbox.webhooks import inbound, service
from strongbox.webhooks.delivery import Deliverer, DeliveryConfig
from strongbox.workers.loops import BUSY_PAUSE_SECONDS, Loop

log = logging.getLogger(__name__)


def delivery_config(rt: Runtime) -> DeliveryConfig:
    s = rt.settings
    return DeliveryConfig(
        timeout_seconds=s.webhooks_timeout_seconds,
        allow_private=s.webhooks_allow_private,
        concurrency=s.webhooks_concurrency,
        poll_seconds=min(s.worker_interval_seconds, 1.0),
    )


def fanout(rt: Runtime) -> int:
    with rt.db.unit_of_work() as uow:
        n = service.fanout_once(uow)
        uow.commit()
    return n


def process_inbound(rt: Runtime, *, batch: int = 100) -> int:
    """Claim pending inbound events (one short transaction), then apply each in its own
    transaction; a failure is counted in a fresh one. Returns how many were claimed."""

    def apply_report(uow: UnitOfWork, ctx: RequestContext, report: GatewayReport) -> str:
        return gateway_reports.apply(rt.payments, uow, ctx, report)

    with rt.db.unit_of_work() as uow:
        claimed = inbound.claim_pending(uow, batch=batch)
        uow.commit()
    for event_id in claimed:
        try:
            with rt.db.unit_of_work() as uow:
                inbound.process_event(uow, apply_report, event_id)
                uow.commit()
        except Exception:
            log.exception("processing inbound webhook event %s failed", event_id)
            with rt.db.unit_of_work() as uow:
                inbound.count_failure(uow, event_id)
                uow.commit()
    return len(claimed)


class DeliveryLoop(Loop):
    """Runs the asyncio ``Deliverer`` in its own thread, with the ``Loop`` interface."""

    def __init__(self, deliverer: Deliverer) -> None:
        super().__init__("webhook-delivery", lambda: 0, 1.0)
        self.deliverer = deliverer
        self._astop: asyncio.Event | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        self.deliverer.wake()

    def stop(self) -> None:
        super().stop()
        loop, ev = self._aloop, self._astop
        if loop is not None and ev is not None:
            loop.call_soon_threadsafe(ev.set)

    def run(self) -> None:
        async def main() -> None:
            self._aloop = asyncio.get_running_loop()
            self._astop = asyncio.Event()
            if self._stop_event.is_set():
                return
            await self.deliverer.run(self._astop)

        asyncio.run(main())  # the deliverer closes its connections when its run ends


def build_webhook_loops(rt: Runtime) -> list[Loop]:
    interval = rt.settings.worker_interval_seconds
    delivery = DeliveryLoop(Deliverer(rt.db, rt.sealer, delivery_config(rt)))

    def fanout_and_wake() -> int:
        n = fanout(rt)
        if n:
            delivery.wake()
        return n

    fan = Loop("webhook-fanout", fanout_and_wake, interval, min_pause=BUSY_PAUSE_SECONDS)
    rt.dispatcher.on_commit_of_events(fan.wake)
    inbound_loop = Loop("webhook-inbound", lambda: process_inbound(rt), min(interval, 0.5))
    return [fan, delivery, inbound_loop]
