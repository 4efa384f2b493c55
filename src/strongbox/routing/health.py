"""Connector health: a circuit breaker per (merchant, connector account), and call figures.

The state machine (closed → open → half-open → closed) and its storage are pybreaker's:
in memory, or shared by every process through Redis (``CircuitRedisStorage``) when
``STRONGBOX_REDIS_URL`` is set. pybreaker runs the guarded call under the breaker's lock,
which would serialize all calls to one gateway, so the gateway call runs outside it: the
breaker is asked first (``admit``), then told the outcome (``record``), which pybreaker
applies under its lock in microseconds.

A breaker opens after ``fail_max`` consecutive technical failures (pybreaker's rule), or when
the error rate over the last ``window`` calls reaches ``error_rate`` with at least
``min_calls`` calls (our rolling window, per process). After ``reset_seconds`` it half-opens:
the next call is let through; success closes it, failure opens it again.

Technical failures are ``RetryableError`` and ``UnknownOutcomeError``; declines and
``TerminalError`` (a request the gateway refused) say nothing about its health. An open
circuit refuses with ``CircuitOpenError``, a ``RetryableError`` (nothing was sent), so the
payments service fails over to the next connector.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker
from prometheus_client import Counter, Gauge

from strongbox.connectors.base import RetryableError, UnknownOutcomeError

T = TypeVar("T")

CIRCUIT_STATE = Gauge(
    "strongbox_circuit_state",
    "Circuit breaker state per merchant and connector account (0 closed, 1 half-open, 2 open)",
    ["merchant", "target"],
    multiprocess_mode="mostrecent",  # serve --processes N: the latest value any process set
)
TARGET_ERROR_RATE = Gauge(
    "strongbox_connector_error_rate",
    "Technical error rate over the breaker's rolling window",
    ["merchant", "target"],
    multiprocess_mode="mostrecent",
)
FAILOVERS = Counter(
    "strongbox_failovers_total",
    "Authorizations moved to the next connector",
    ["from_connector", "to_connector", "reason"],
)
_STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class CircuitOpenError(RetryableError):
    """The connector's circuit is open: the call was not made."""


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    fail_max: int = 5
    reset_seconds: float = 30.0
    window: int = 50
    error_rate: float = 0.5
    min_calls: int = 10


def is_technical_failure(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError | UnknownOutcomeError) and not isinstance(
        exc, CircuitOpenError
    )


@dataclass
class _Figures:
    outcomes: deque[bool]  # True = technical failure
    latencies: deque[float]
    calls: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Breaker:
    def __init__(
        self, merchant_id: str, target: str, settings: BreakerSettings, redis: Any | None
    ) -> None:
        self.merchant_id = merchant_id
        self.target = target
        self.settings = settings
        if redis is not None:
            self.storage: pybreaker.CircuitBreakerStorage = pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED,
                redis,
                namespace=f"strongbox:circuit:{merchant_id}:{target}",
            )
        else:
            self.storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.fail_max,
            reset_timeout=settings.reset_seconds,
            exclude=[lambda exc: not is_technical_failure(exc)],
            state_storage=self.storage,
            name=f"{merchant_id}:{target}",
            throw_new_error_on_trip=False,  # the caller must see the real error
        )
        self.figures = _Figures(
            outcomes=deque(maxlen=settings.window), latencies=deque(maxlen=settings.window)
        )

    def state(self) -> str:
        state = str(self.storage.state)
        if state == pybreaker.STATE_OPEN and self._cooled_down():
            return pybreaker.STATE_HALF_OPEN  # the next call will be let through
        return state

    def _cooled_down(self) -> bool:
        opened = self.storage.opened_at
        if opened is None:
            return True
        return datetime.now(UTC) >= opened + timedelta(seconds=self.settings.reset_seconds)

    def admit(self) -> None:
        if self.state() == pybreaker.STATE_OPEN:
            raise CircuitOpenError(
                f"the circuit for {self.target} is open; the call was not made",
                gateway_code="circuit_open",
            )

    def record(self, error: BaseException | None, seconds: float) -> None:
        failed = error is not None and is_technical_failure(error)
        fig = self.figures
        with fig.lock:
            fig.calls += 1
            fig.failures += int(failed)
            fig.outcomes.append(failed)
            fig.latencies.append(seconds)
            window = len(fig.outcomes)
            rate = sum(fig.outcomes) / window
            trip = failed and window >= self.settings.min_calls and rate >= self.settings.error_rate
            if trip:
                fig.outcomes.clear()

        def replay() -> None:
            if error is not None:
                raise error

        try:
            self.breaker.call(replay)
        except pybreaker.CircuitBreakerError:
            pass  # another caller opened it meanwhile
        except BaseException as exc:
            if exc is not error:  # pragma: no cover - only our own error is re-raised
                raise
        if trip and str(self.storage.state) != pybreaker.STATE_OPEN:
            self.breaker.open()
        CIRCUIT_STATE.labels(self.merchant_id, self.target).set(_STATE_VALUE[self.state()])
        TARGET_ERROR_RATE.labels(self.merchant_id, self.target).set(rate)

    def snapshot(self) -> dict[str, Any]:
        fig = self.figures
        with fig.lock:
            latencies = sorted(fig.latencies)
            window = len(fig.outcomes)
            errors = sum(fig.outcomes)
            calls, failures = fig.calls, fig.failures
        opened = self.storage.opened_at
        return {
            "target": self.target,
            "state": self.state(),
            "consecutive_failures": int(self.storage.counter),
            "opened_at": int(opened.timestamp()) if opened is not None else None,
            "calls": calls,
            "technical_errors": failures,
            "window_calls": window,
            "window_error_rate": round(errors / window, 4) if window else 0.0,
            "latency_ms_p50": _pct(latencies, 0.5),
            "latency_ms_p95": _pct(latencies, 0.95),
        }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)


class ConnectorHealth:
    """All breakers of this process; their state lives in memory or in Redis."""

    def __init__(self, settings: BreakerSettings | None = None, redis_url: str | None = None):
        self.settings = settings or BreakerSettings()
        self._redis: Any | None = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5)
        self._breakers: dict[tuple[str, str], _Breaker] = {}
        self._lock = threading.Lock()

    def _get(self, merchant_id: str, target: str) -> _Breaker:
        key = (merchant_id, target)
        breaker = self._breakers.get(key)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.get(key)
                if breaker is None:
                    breaker = _Breaker(merchant_id, target, self.settings, self._redis)
                    self._breakers[key] = breaker
        return breaker

    def open_targets(self, merchant_id: str, targets: Iterable[str]) -> frozenset[str]:
        return frozenset(
            t for t in targets if self._get(merchant_id, t).state() == pybreaker.STATE_OPEN
        )

    def call(self, merchant_id: str, target: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one gateway call) under the breaker of ``(merchant_id, target)``."""
        breaker = self._get(merchant_id, target)
        breaker.admit()
        start = time.perf_counter()
        try:
            result = fn()
        except BaseException as exc:
            breaker.record(exc, time.perf_counter() - start)
            raise
        breaker.record(None, time.perf_counter() - start)
        return result

    def snapshot(self, merchant_id: str) -> list[dict[str, Any]]:
        with self._lock:
            mine = [b for (m, _), b in self._breakers.items() if m == merchant_id]
        return sorted((b.snapshot() for b in mine), key=lambda s: str(s["target"]))

    def reset(self, merchant_id: str, target: str) -> None:
        """Close a circuit by hand (operators, tests)."""
        self._get(merchant_id, target).breaker.close()
