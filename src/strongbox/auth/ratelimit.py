"""Request rate limits (moving window), in memory or shared through Redis.

Two limiters use this class: per API key (``runtime.rate_limiter``, counted when a request
authenticates) and per client address (``runtime.address_limiter``, counted for every request
before routing, so unauthenticated floods and key guessing are limited too).

Shared limits go through the ``limits`` library and Redis. In memory, the window is a deque
of timestamps per key, expired lazily when the key is counted: ``limits``' memory storage
starts a 10 ms timer thread to expire entries whenever the last one ended, and
``Thread.start`` waits for the new thread to run, which on a busy event loop cost more than
the rest of a request (benchmarks/inproc.py, py-spy).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from limits import RateLimitItemPerSecond, storage, strategies

from strongbox.core.errors import RateLimitError


class MovingWindow:
    """At most ``limit`` hits per ``window`` seconds per key, in this process's memory."""

    SWEEP_EVERY = 10_000  # new keys between two sweeps of keys whose window emptied

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._new_keys = 0

    def hit(self, key: str) -> float | None:
        """Count a hit; None if allowed, else the seconds until the window has room."""
        now = time.monotonic()
        cutoff = now - self.window
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                self._new_keys += 1
                if self._new_keys >= self.SWEEP_EVERY:
                    self._sweep(cutoff)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= cutoff:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            return None

    def _sweep(self, cutoff: float) -> None:
        self._new_keys = 0
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]

    def keys(self) -> int:
        with self._lock:
            return len(self._hits)


class RateLimiter:
    def __init__(
        self,
        per_second: int,
        redis_url: str | None = None,
        *,
        namespace: str = "strongbox",
        subject: str = "Too many requests",
        window_seconds: int = 1,
    ) -> None:
        """``per_second`` requests per ``window_seconds`` (1: per second, as configured)."""
        self.per_second = per_second
        self.shared = bool(redis_url)
        self._namespace = namespace
        self._subject = subject
        self._item = RateLimitItemPerSecond(max(per_second, 1), max(window_seconds, 1))
        self._memory: MovingWindow | None = None
        self._limiter: strategies.MovingWindowRateLimiter | None = None
        if redis_url:
            backend = storage.storage_from_string(redis_url)
            self._limiter = strategies.MovingWindowRateLimiter(backend)
        else:
            self._memory = MovingWindow(max(per_second, 1), max(window_seconds, 1))

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def check(self, key_id: str) -> None:
        """Count one request for ``key_id``; raise a Stripe-shaped 429 when over the limit."""
        if not self.enabled:
            return
        if self._memory is not None:
            wait = self._memory.hit(key_id)
            if wait is None:
                return
            retry_after = max(1, math.ceil(wait))
        else:
            assert self._limiter is not None
            if self._limiter.hit(self._item, self._namespace, key_id):
                return
            stats = self._limiter.get_window_stats(self._item, self._namespace, key_id)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimitError(
            f"{self._subject} hit the API too quickly. We recommend an exponential backoff "
            "of your requests.",
            code="rate_limit",
            headers={"Retry-After": str(retry_after)},
        )


def address_limiter(
    per_second: int, redis_url: str | None = None, *, window_seconds: int = 1
) -> RateLimiter:
    """The per-client-address limiter (its own Redis namespace)."""
    return RateLimiter(
        per_second,
        redis_url,
        namespace="strongbox-addr",
        subject="Too many requests from your address",
        window_seconds=window_seconds,
    )
