"""Event buses the outbox relay publishes to, chosen by ``STRONGBOX_BUS_URL``.

``memory://`` (or unset, the default) is in-process; ``nats://`` is NATS JetStream
(``events/jetstream.py``); ``kafka://`` is Kafka (``events/kafka.py``). docs/events.md says
what each one guarantees.

A bus has two sides. The relay publishes committed events (``publish_batch``: in order, the
number published is a prefix of the batch). Consumers read through a ``Subscription``: a
durable, named consumer group whose messages are acknowledged only after their effect
committed (``events/consumer.py``).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

Envelope = dict[str, Any]


class Bus(Protocol):
    def publish(self, envelope: Envelope) -> None: ...

    def close(self) -> None: ...


@dataclass
class Delivery:
    """One message as a consumer receives it (``handle``: the backend's message), settled
    through its subscription once its effect committed."""

    envelope: Envelope
    deliveries: int = 1
    handle: Any = field(default=None, repr=False)

    @property
    def redelivered(self) -> bool:
        return self.deliveries > 1


class Subscription(Protocol):
    def fetch(self, batch: int, timeout: float) -> list[Delivery]: ...

    def ack(self, deliveries: Sequence[Delivery]) -> None: ...

    def nak(self, deliveries: Sequence[Delivery]) -> None: ...

    def lag(self) -> int | None: ...

    def close(self) -> None: ...


class BusBackend(Protocol):
    """What the relay and the consumers need of a bus."""

    name: str

    def publish(self, envelope: Envelope) -> None: ...

    def publish_batch(self, envelopes: Sequence[Envelope]) -> int: ...

    def subscribe_group(self, consumer: str, types: Sequence[str]) -> Subscription | None: ...

    def close(self) -> None: ...


BatchHandler = Callable[[list[Envelope]], None]


class InMemoryBus:
    """Delivers each published event to in-process consumers, synchronously.

    Consumers must be idempotent by event id (the relay delivers at least once). Batch
    consumers (``subscribe_batch``) get every matching event of a relay pass in one call.
    """

    name = "memory"

    def __init__(self) -> None:
        self._subs: list[tuple[str, Callable[[Envelope], None]]] = []
        self._batch_subs: list[tuple[tuple[str, ...], BatchHandler]] = []
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, pattern: str, fn: Callable[[Envelope], None]) -> None:
        with self._lock:
            self._subs.append((pattern, fn))

    def subscribe_batch(self, patterns: Sequence[str], fn: BatchHandler) -> None:
        with self._lock:
            self._batch_subs.append((tuple(patterns), fn))

    def publish(self, envelope: Envelope) -> None:
        self.publish_batch([envelope])

    def publish_batch(self, envelopes: Sequence[Envelope]) -> int:
        """Every event to the per-event consumers, then each batch consumer once; a batch
        consumer that raises fails the publish (the relay retries the batch, and the
        consumer's processed-events table skips what it already applied)."""
        for envelope in envelopes:
            self.published += 1
            for pattern, fn in list(self._subs):
                if fnmatch.fnmatchcase(str(envelope.get("type", "")), pattern):
                    try:
                        fn(envelope)
                    except Exception:
                        log.exception("in-memory consumer failed for %s", envelope.get("id"))
        for patterns, batch_fn in list(self._batch_subs):
            matching = [e for e in envelopes if matches(str(e.get("type", "")), patterns)]
            if matching:
                batch_fn(matching)
        return len(envelopes)

    def subscribe_group(self, consumer: str, types: Sequence[str]) -> Subscription | None:
        """None: in-process consumers are called by ``publish_batch`` (``subscribe_batch``)."""
        return None

    def close(self) -> None:
        with self._lock:
            self._subs.clear()
            self._batch_subs.clear()


def matches(event_type: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


def make_bus(
    url: str | None, *, stream: str = "STRONGBOX", duplicate_window: int = 600
) -> InMemoryBus | BusBackend:
    """The bus ``url`` names. ``ValueError`` for a scheme we do not know."""
    if url in (None, "", "memory://"):
        return InMemoryBus()
    assert url is not None
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("nats", "tls"):
        from strongbox.events.jetstream import JetStreamBus

        return JetStreamBus(url, stream=stream, duplicate_window=duplicate_window)
    if scheme == "kafka":
        from strongbox.events.kafka import KafkaBus

        return KafkaBus(url, topic=stream)
    raise ValueError(f"unsupported event bus URL scheme: {scheme!r}")
