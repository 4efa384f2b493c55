"""The latest rates, cached: in Redis when it is configured (shared by every process), in
this process otherwise. An entry expires at the source's next publication (the ECB's:
16:00 Europe/Berlin on the next working day), so nobody serves yesterday's rates as
today's for long. A miss reads the database, never the source: fetching is the loader's
job (``service.load``), off the request path."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
import redis

from strongbox.fx.ecb import RateSet

log = logging.getLogger(__name__)

PUBLISH_ZONE: Final = ZoneInfo("Europe/Berlin")
PUBLISH_TIME: Final = time(16, 0)
MIN_TTL_SECONDS: Final = 60
KEY_PREFIX: Final = "strongbox:fx:latest:"


def next_publication(day: date) -> datetime:
    """When the rates after ``day``'s are due: 16:00 Berlin time on the next weekday (TARGET
    holidays are not known here: the cache then simply expires and is refilled unchanged)."""
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return datetime.combine(nxt, PUBLISH_TIME, tzinfo=PUBLISH_ZONE).astimezone(UTC)


def ttl_seconds(rs: RateSet, now: datetime) -> int:
    return max(MIN_TTL_SECONDS, int((next_publication(rs.day) - now).total_seconds()))


def _dump(rs: RateSet) -> bytes:
    return orjson.dumps(
        {
            "source": rs.source,
            "base": rs.base,
            "day": rs.day.isoformat(),
            "rates": {k: str(v) for k, v in rs.rates.items()},
        }
    )


def _load(raw: bytes) -> RateSet:
    d: dict[str, Any] = orjson.loads(raw)
    return RateSet(
        source=str(d["source"]),
        base=str(d["base"]),
        day=date.fromisoformat(d["day"]),
        rates={k: Decimal(v) for k, v in d["rates"].items()},
    )


class RateCache:
    def __init__(
        self,
        redis_url: str | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._local: dict[str, tuple[datetime, RateSet]] = {}
        self._redis: Any = None
        if redis_url:
            self._redis = redis.Redis.from_url(
                redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def get(self, source: str) -> RateSet | None:
        if self._redis is not None:
            try:
                raw = self._redis.get(KEY_PREFIX + source)
            except (redis.RedisError, OSError) as exc:  # down: the caller reads the database
                log.warning("fx cache unavailable: %s", type(exc).__name__)
                return None
            return _load(raw) if raw else None
        with self._lock:
            hit = self._local.get(source)
            if hit is None or hit[0] <= self._now():
                self._local.pop(source, None)
                return None
            return hit[1]

    def put(self, rs: RateSet) -> None:
        ttl = ttl_seconds(rs, self._now())
        if self._redis is not None:
            try:
                self._redis.set(KEY_PREFIX + rs.source, _dump(rs), ex=ttl)
            except (redis.RedisError, OSError) as exc:
                log.warning("fx cache unavailable: %s", type(exc).__name__)
            return
        with self._lock:
            self._local[rs.source] = (self._now() + timedelta(seconds=ttl), rs)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
