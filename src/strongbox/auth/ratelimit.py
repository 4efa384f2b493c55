"""Request rate limits (moving window), in memory or shared through Redis.

Two limiters use this class: per API key (``runtime.rate_limiter``, counted when a request
authenticates) and per client address (``runtime.address_limiter``, counted for every request
before routing, so unauthenticated floods and key guessing are limited too).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond, storage, strategies

from strongbox.core.errors import RateLimitError


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
        backend = storage.storage_from_string(redis_url) if redis_url else storage.MemoryStorage()
        self._limiter = strategies.MovingWindowRateLimiter(backend)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def check(self, key_id: str) -> None:
        """Count one request for ``key_id``; raise a Stripe-shaped 429 when over the limit."""
        if not self.enabled or self._limiter.hit(self._item, self._namespace, key_id):
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
