"""The in-memory moving window: exact counts, expiry, a bounded number of keys."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.auth import ratelimit
from strongbox.auth.ratelimit import MovingWindow, RateLimiter
from strongbox.core.errors import RateLimitError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic", c)
    return c


def test_the_window_admits_its_limit_then_refuses_until_the_oldest_hit_leaves(
    clock: Clock,
) -> None:
    w = MovingWindow(3, 1.0)
    assert [w.hit("k") for _ in range(3)] == [None, None, None]
    clock.now += 0.4
    assert w.hit("k") == pytest.approx(0.6)
    assert w.hit("other") is None  # keys are separate
    clock.now += 0.6
    assert w.hit("k") is None  # the first hits left the window


@given(gaps=st.lists(st.floats(min_value=0, max_value=0.5), max_size=60))
def test_never_more_than_the_limit_in_any_window(gaps: list[float]) -> None:
    now = [0.0]
    w = MovingWindow(5, 1.0)
    admitted: list[float] = []
    original = ratelimit.time.monotonic
    ratelimit.time.monotonic = lambda: now[0]  # type: ignore[assignment]
    try:
        for gap in gaps:
            now[0] += gap
            if w.hit("k") is None:
                admitted.append(now[0])
    finally:
        ratelimit.time.monotonic = original  # type: ignore[assignment]
    for i, t in enumerate(admitted):
        assert sum(1 for u in admitted[i:] if u - t < 1.0) <= 5


def test_emptied_keys_are_swept(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MovingWindow, "SWEEP_EVERY", 10)
    w = MovingWindow(1, 1.0)
    for i in range(9):
        w.hit(f"addr-{i}")
    clock.now += 5
    w.hit("late")  # the tenth new key sweeps the expired ones
    assert w.keys() == 1


def test_the_limiter_answers_429_with_retry_after(clock: Clock) -> None:
    limiter = RateLimiter(2)
    limiter.check("k")
    limiter.check("k")
    with pytest.raises(RateLimitError) as err:
        limiter.check("k")
    assert err.value.headers["Retry-After"] == "1"
    assert err.value.status == 429


def test_no_thread_is_started_to_count() -> None:
    limiter = RateLimiter(1_000_000)
    before = threading.active_count()
    for i in range(2000):
        limiter.check(f"k{i % 7}")
    assert threading.active_count() == before
