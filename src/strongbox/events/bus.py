"""Event buses the outbox relay publishes to. ``memory://`` (default) is in-process."""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Envelope = dict[str, Any]


class Bus(Protocol):
    def publish(self, envelope: Envelope) -> None: ...

    def close(self) -> None: ...


class InMemoryBus:
    """Delivers each published event to in-process consumers, synchronously.

    Consumers must be idempotent by event id (the relay delivers at least once).
    """

    def __init__(self) -> None:
        self._subs: list[tuple[str, Callable[[Envelope], None]]] = []
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, pattern: str, fn: Callable[[Envelope], None]) -> None:
        with self._lock:
            self._subs.append((pattern, fn))

    def publish(self, envelope: Envelope) -> None:
        self.published += 1
        for pattern, fn in list(self._subs):
            if fnmatch.fnmatchcase(str(envelope.get("type", "")), pattern):
                try:
                    fn(envelope)
                except Exception:
                    log.exception("in-memory consumer failed for %s", envelope.get("id"))

    def close(self) -> None:
        with self._lock:
            self._subs.clear()


def make_bus(url: str | None) -> InMemoryBus:
    if url in (None, "", "memory://"):
        return InMemoryBus()
    raise ValueError(f"unsupported event bus URL scheme: {url.split(':', 1)[0]!r}")
