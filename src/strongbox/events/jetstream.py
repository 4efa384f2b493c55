"""NATS JetStream: the relay's publisher and the consumers' durable pull subscriptions.

nats-py is asyncio; the relay and consumers are threads. One bus owns one connection and an
event loop in a daemon thread of its own, and the blocking methods below run coroutines on it.

- The stream (``STRONGBOX_BUS_STREAM``, default ``STRONGBOX``) is created at start, or checked
  and widened to our subjects: ``<stream>.<merchant_id>.<event type>``.
- ``publish_batch`` sends a batch in order on one connection (JetStream stores a connection's
  messages in the order sent), each with ``Nats-Msg-Id`` = the event id, then waits for every
  acknowledgement: a relay that dies between publishing and marking the rows published
  publishes them again, and JetStream drops the copies within its duplicate window.
- A consumer group is a durable pull consumer named after the consumer (``settlement``); every
  process that subscribes with that name shares it. Explicit acks, sent only after the
  effect committed; an unacknowledged message comes back after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import nats
import orjson
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from strongbox.events.bus import Delivery, Envelope, matches

log = logging.getLogger(__name__)

T = TypeVar("T")

CALL_TIMEOUT = 30.0
"""Bound on one blocking call into the bus's event loop (publish batch, fetch, ack)."""

ACK_WAIT_SECONDS = 30.0
"""A message not acknowledged this long after delivery is delivered again."""


def subject_prefix(stream: str) -> str:
    return stream.lower()


def subject_of(stream: str, envelope: Envelope) -> str:
    merchant = str(envelope.get("merchant_id") or "platform")
    return f"{subject_prefix(stream)}.{merchant}.{envelope['type']}"


class JetStreamBus:
    name = "nats"

    def __init__(self, url: str, *, stream: str = "STRONGBOX", duplicate_window: int = 600) -> None:
        self.url = url
        self.stream = stream
        self.duplicate_window = duplicate_window
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="strongbox-nats", daemon=True
        )
        self._thread.start()
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self.published = 0
        try:
            self._run(self._connect())
        except Exception:
            self._stop_loop()
            raise

    # ---- plumbing

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self) -> None:
        self._nc = await nats.connect(
            self.url,
            connect_timeout=5,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            name="strongbox",
        )
        self._js = self._nc.jetstream(timeout=10)
        await self._ensure_stream()

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None
        return self._js

    async def _ensure_stream(self) -> None:
        subjects = [f"{subject_prefix(self.stream)}.>"]
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=subjects,
                    storage=StorageType.FILE,
                    duplicate_window=float(self.duplicate_window),
                )
            )
            log.info("created JetStream stream %s (%s)", self.stream, subjects[0])
            return
        config = info.config
        if subjects[0] not in (config.subjects or []) or (config.duplicate_window or 0) < float(
            self.duplicate_window
        ):
            config.subjects = sorted({*(config.subjects or []), *subjects})
            config.duplicate_window = max(
                float(config.duplicate_window or 0), float(self.duplicate_window)
            )
            await self.js.update_stream(config)
            log.info("updated JetStream stream %s", self.stream)

    # ---- publishing

    def publish(self, envelope: Envelope) -> None:
        if self.publish_batch([envelope]) != 1:
            raise ConnectionError("JetStream did not acknowledge the event")

    def publish_batch(self, envelopes: Sequence[Envelope]) -> int:
        """Publish in order; the length of the prefix JetStream acknowledged."""
        if not envelopes:
            return 0
        n = self._run(self._publish_batch(list(envelopes)))
        self.published += n
        return n

    async def _publish_batch(self, envelopes: list[Envelope]) -> int:
        futures: list[asyncio.Future[Any]] = []
        try:
            for env in envelopes:
                fut = await self.js.publish_async(
                    subject_of(self.stream, env),
                    orjson.dumps(env),
                    headers={"Nats-Msg-Id": str(env["id"])},
                    wait_stall=10.0,
                )
                futures.append(fut)
        except Exception:
            log.exception("JetStream publish stopped after %d of %d", len(futures), len(envelopes))
        done = 0
        for fut in futures:
            try:
                await asyncio.wait_for(fut, timeout=10.0)
            except Exception:  # noqa: BLE001 - a timeout or a refusal: stop here
                log.warning("JetStream did not acknowledge event %d of the batch", done + 1)
                for rest in futures[done + 1 :]:
                    rest.cancel()
                break
            done += 1
        return done

    # ---- consuming

    def subscribe_group(self, consumer: str, types: Sequence[str]) -> JetStreamSubscription:
        return JetStreamSubscription(self, consumer, tuple(types))

    def consumer_pending(self, consumer: str) -> int | None:
        try:
            info = self._run(self.js.consumer_info(self.stream, consumer), timeout=10.0)
        except Exception:  # noqa: BLE001 - a gauge: unknown is None
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    def close(self) -> None:
        if self._nc is not None and not self._loop.is_closed():
            try:
                self._run(self._nc.close(), timeout=10.0)
            except Exception:
                log.warning("closing the NATS connection failed", exc_info=True)
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()


class JetStreamSubscription:
    """A durable pull consumer; every process that opens one with the same name shares it.

    All events of the stream are delivered; those whose type the consumer does not handle
    are returned too (the runner acknowledges them without an effect): NATS 2.9 has one
    filter subject per consumer and the event type is the subject's tail."""

    def __init__(self, bus: JetStreamBus, consumer: str, types: tuple[str, ...]) -> None:
        self.bus = bus
        self.consumer = consumer
        self.types = types
        self._sub: JetStreamContext.PullSubscription = bus._run(self._bind())

    async def _bind(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=self.consumer,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ACK_WAIT_SECONDS,
            max_ack_pending=20_000,
            filter_subject=f"{subject_prefix(self.bus.stream)}.>",
        )
        return await self.bus.js.pull_subscribe(
            config.filter_subject or "",
            durable=self.consumer,
            stream=self.bus.stream,
            config=config,
        )

    def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        msgs = self.bus._run(self._fetch(batch, timeout), timeout=timeout + CALL_TIMEOUT)
        out: list[Delivery] = []
        for m in msgs:
            try:
                env = orjson.loads(m.data)
            except orjson.JSONDecodeError:
                log.error("undecodable message on %s: terminated", m.subject)
                self.bus._run(m.term())
                continue
            delivered = int(m.metadata.num_delivered or 1)
            out.append(Delivery(envelope=env, deliveries=delivered, handle=m))
        return out

    async def _fetch(self, batch: int, timeout: float) -> list[Any]:
        try:
            return list(await self._sub.fetch(batch, timeout=timeout))
        except (TimeoutError, nats.errors.TimeoutError):
            return []  # nothing came (or the server is away: the client reconnects)

    def wanted(self, envelope: Envelope) -> bool:
        return matches(str(envelope.get("type", "")), self.types)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self.bus._run(_settle([d.handle for d in deliveries], ack=True))

    def nak(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self.bus._run(_settle([d.handle for d in deliveries], ack=False))

    def lag(self) -> int | None:
        return self.bus.consumer_pending(self.consumer)

    def close(self) -> None:
        try:
            self.bus._run(self._sub.unsubscribe(), timeout=10.0)
        except Exception:
            log.debug("unsubscribing %s failed", self.consumer, exc_info=True)


async def _settle(msgs: list[Any], *, ack: bool) -> None:
    for m in msgs:
        await (m.ack() if ack else m.nak())
