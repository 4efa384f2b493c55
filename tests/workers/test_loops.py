"""The background loops as the server runs them."""

from __future__ import annotations

import itertools
import time
from typing import Any

from fastapi.testclient import TestClient

from strongbox.runtime import Runtime
from strongbox.workers.loops import Loop, build_workers

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def _until(predicate: Any, seconds: float = 120.0) -> bool:
    """Until ``predicate()``; the bound is for a stuck loop, not a slow machine."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_relay_loop_delivers_committed_events_in_batches(api: TestClient, runtime: Runtime) -> None:
    received: list[str] = []
    runtime.bus.subscribe("*", lambda env: received.append(env["type"]))
    workers = build_workers(runtime)
    workers.start()
    try:
        for _ in range(5):
            assert api.post("/v1/payment_intents", data=PAY).status_code == 200
        assert _until(lambda: len(received) == 10)
    finally:
        workers.stop()
    assert received.count("payment_intent.succeeded") == 5
    relay = next(loop for loop in workers.loops if "relay" in loop.name)
    assert not relay.is_alive()


def test_min_pause_bounds_how_often_a_busy_loop_runs() -> None:
    calls: list[float] = []

    def always_busy() -> int:
        calls.append(time.monotonic())
        return 1

    loop = Loop("busy", always_busy, interval=1.0, min_pause=0.05)
    loop.start()
    try:
        assert _until(lambda: len(calls) >= 6)
    finally:
        loop.stop()
        loop.join(60)
    assert not loop.is_alive()
    # However fast or slow the machine: never two passes closer than the pause.
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.045, gaps


def test_the_reaper_loop_removes_keys_older_than_the_ttl(api: TestClient, runtime: Runtime) -> None:
    from datetime import timedelta

    import sqlalchemy as sa

    from strongbox.idempotency.models import IdempotencyKey

    api.post("/v1/customers", data={"name": "old"}, headers={"Idempotency-Key": "old"})
    api.post("/v1/customers", data={"name": "new"}, headers={"Idempotency-Key": "new"})
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(IdempotencyKey)
            .where(IdempotencyKey.key == "old")
            .values(created=uow.clock.now() - timedelta(hours=25))
        )
        uow.commit()

    def keys() -> set[str]:
        with runtime.db.read() as s:
            return set(s.scalars(sa.select(IdempotencyKey.key)))

    workers = build_workers(runtime)
    workers.start()
    try:
        assert _until(lambda: keys() == {"new"})
    finally:
        workers.stop()
