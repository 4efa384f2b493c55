"""Circuit breakers: opening on consecutive failures or on error rate, half-open, Redis."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from strongbox.connectors.base import RetryableError, TerminalError, UnknownOutcomeError
from strongbox.routing.health import BreakerSettings, CircuitOpenError, ConnectorHealth

M = "acct_test"


def fail(exc: Exception) -> object:
    def raiser() -> object:
        raise exc

    return raiser


def call_failing(health: ConnectorHealth, target: str, exc: Exception) -> None:
    with pytest.raises(type(exc)):
        health.call(M, target, fail(exc))  # type: ignore[arg-type]


def state(health: ConnectorHealth, target: str) -> str:
    return next(s["state"] for s in health.snapshot(M) if s["target"] == target)


def test_opens_after_consecutive_failures_then_half_opens_and_closes() -> None:
    health = ConnectorHealth(BreakerSettings(fail_max=3, reset_seconds=0.2, min_calls=1000))
    for _ in range(2):
        call_failing(health, "gw", RetryableError("503"))
    assert health.call(M, "gw", lambda: "ok") == "ok"  # a success resets the count
    for _ in range(2):
        call_failing(health, "gw", UnknownOutcomeError("timeout"))
    assert state(health, "gw") == "closed"
    call_failing(health, "gw", RetryableError("503"))  # the real error, not a breaker error
    assert state(health, "gw") == "open"
    assert health.open_targets(M, ["gw", "other"]) == {"gw"}
    calls = []
    with pytest.raises(CircuitOpenError):
        health.call(M, "gw", lambda: calls.append(1))
    assert calls == []  # refused without calling
    time.sleep(0.25)
    assert state(health, "gw") == "half-open"
    call_failing(health, "gw", RetryableError("still down"))  # the trial fails: open again
    assert state(health, "gw") == "open"
    time.sleep(0.25)
    assert health.call(M, "gw", lambda: "back") == "back"
    assert state(health, "gw") == "closed"


def test_declines_and_terminal_errors_do_not_count() -> None:
    health = ConnectorHealth(BreakerSettings(fail_max=2, min_calls=1000))
    for _ in range(5):
        call_failing(health, "gw", TerminalError("bad request"))
    assert state(health, "gw") == "closed"
    [snap] = health.snapshot(M)
    assert (snap["calls"], snap["technical_errors"]) == (5, 0)


def test_opens_on_error_rate_over_the_window() -> None:
    health = ConnectorHealth(BreakerSettings(fail_max=100, window=10, error_rate=0.5, min_calls=10))
    for i in range(10):
        if i % 2:
            call_failing(health, "gw", RetryableError("503"))
        else:
            health.call(M, "gw", lambda: None)
    assert state(health, "gw") == "open"  # 5 of 10 failed, never 2 in a row


def test_breakers_are_per_merchant_and_target() -> None:
    health = ConnectorHealth(BreakerSettings(fail_max=1, min_calls=1000))
    call_failing(health, "gw", RetryableError("503"))
    assert health.open_targets(M, ["gw"]) == {"gw"}
    assert health.open_targets("acct_other", ["gw"]) == frozenset()
    assert health.open_targets(M, ["gw2"]) == frozenset()


def test_figures_in_the_snapshot() -> None:
    health = ConnectorHealth(BreakerSettings(fail_max=10, min_calls=1000))
    health.call(M, "gw", lambda: time.sleep(0.01))
    call_failing(health, "gw", RetryableError("503"))
    [snap] = health.snapshot(M)
    assert snap["calls"] == 2
    assert snap["technical_errors"] == 1
    assert snap["window_error_rate"] == 0.5
    assert snap["latency_ms_p95"] >= 10
    assert snap["consecutive_failures"] == 1


def _redis_url() -> str:
    url = os.environ.get("STRONGBOX_TEST_REDIS_URL")
    required = os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1"
    if not url:
        if required:
            pytest.fail("STRONGBOX_REQUIRE_SERVICES=1 but STRONGBOX_TEST_REDIS_URL is unset")
        pytest.skip("STRONGBOX_TEST_REDIS_URL not set")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        if required:
            raise
        pytest.skip(f"Redis unreachable: {exc}")
    return url


def test_circuit_state_is_shared_through_redis() -> None:
    url = _redis_url()
    merchant = f"acct_{uuid.uuid4().hex}"
    # Two instances stand for two processes sharing one Redis.
    one = ConnectorHealth(BreakerSettings(fail_max=2, reset_seconds=30, min_calls=1000), url)
    two = ConnectorHealth(BreakerSettings(fail_max=2, reset_seconds=30, min_calls=1000), url)
    for health in (one, two):
        with pytest.raises(RetryableError):
            health.call(merchant, "gw", fail(RetryableError("503")))  # type: ignore[arg-type]
    assert one.open_targets(merchant, ["gw"]) == {"gw"}
    assert two.open_targets(merchant, ["gw"]) == {"gw"}
    with pytest.raises(CircuitOpenError):
        two.call(merchant, "gw", lambda: None)
    one.reset(merchant, "gw")
    assert two.call(merchant, "gw", lambda: "ok") == "ok"
