"""Per-API-key request rate limits (moving window), in memory or shared through Redis."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond, storage, strategies

from strongbox.core.errors import RateLimitError


class RateLimiter:
    def __init__(self, per_second: int, redis_url: str | None = None) -> None:
        self.per_second = per_second
        self._item = RateLimitItemPerSecond(max(per_second, 1))
        backend = storage.storage_from_string(redis_url) if redis_url else storage.MemoryStorage()
        self._limiter = strategies.MovingWindowRateLimiter(backend)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def check(self, key_id: str) -> None:
        """Count one request for ``key_id``; raise a Stripe-shaped 429 when over the limit."""
        if not self.enabled or self._limiter.hit(self._item, "strongbox", key_id):
            return
        stats = self._limiter.get_window_stats(self._item, "strongbox", key_id)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimitError(
            "Too many requests hit the API too quickly. We recommend an exponential backoff "
            "of your requests.",
            code="rate_limit",
            headers={"Retry-After": str(retry_after)},
        )
