"""Consumers apply each event at most once; messages are acknowledged only after the commit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from strongbox.db.uow import UnitOfWork
from strongbox.events.bus import Delivery, Envelope
from strongbox.events.consumer import Consumer, ConsumerRunner, apply_batch
from strongbox.events.models import ProcessedEvent
from strongbox.runtime import Runtime


class FakeSubscription:
    def __init__(self, batches: list[list[Delivery]]) -> None:
        self.batches = batches
        self.acked: list[str] = []
        self.naked: list[str] = []

    def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        return self.batches.pop(0) if self.batches else []

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.acked += [d.envelope["id"] for d in deliveries]

    def nak(self, deliveries: Sequence[Delivery]) -> None:
        self.naked += [d.envelope["id"] for d in deliveries]

    def lag(self) -> int | None:
        return 7

    def close(self) -> None:
        return None


def _env(i: int, type_: str = "thing.happened") -> Envelope:
    return {"id": f"evt_{i:04d}", "type": type_, "merchant_id": "acct_x", "created": 0}


class Recorder:
    """A consumer whose effect is a processed-events row of a second consumer name: it
    commits or rolls back with the batch, like any effect."""

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.fail_on = fail_on or set()
        self.calls: list[list[str]] = []

    def apply(self, uow: UnitOfWork, envs: list[Envelope]) -> None:
        ids = [e["id"] for e in envs]
        self.calls.append(ids)
        if self.fail_on & set(ids):
            raise RuntimeError("effect failed")
        uow.session.add_all(
            ProcessedEvent(consumer="effect", event_id=i, processed_at=uow.clock.now()) for i in ids
        )


def _effects(rt: Runtime) -> list[str]:
    with rt.db.read() as s:
        return sorted(
            s.scalars(sa.select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == "effect"))
        )


def _sample(name: str, consumer: str) -> float:
    return REGISTRY.get_sample_value(name, {"consumer": consumer}) or 0.0


def test_a_redelivered_batch_is_acknowledged_without_applying_again(runtime: Runtime) -> None:
    rec = Recorder()
    consumer = Consumer("recorder", ("thing.*",), rec.apply)
    first = [Delivery(_env(i)) for i in range(3)]
    again = [Delivery(_env(i), deliveries=2) for i in range(3)]
    sub = FakeSubscription([first, again])
    runner = ConsumerRunner(runtime.db, lambda: sub, consumer)
    before = _sample("strongbox_consumer_redeliveries_total", "recorder")
    assert runner.run_once() == 3
    assert runner.run_once() == 3
    assert rec.calls == [["evt_0000", "evt_0001", "evt_0002"]]  # the redelivery: nothing new
    assert _effects(runtime) == ["evt_0000", "evt_0001", "evt_0002"]
    assert sub.acked == [*(e.envelope["id"] for e in first), *(e.envelope["id"] for e in again)]
    assert _sample("strongbox_consumer_redeliveries_total", "recorder") - before == 3
    assert _sample("strongbox_consumer_lag_events", "recorder") == 7


def test_an_event_whose_effect_fails_is_redelivered_and_the_others_commit(
    runtime: Runtime,
) -> None:
    rec = Recorder(fail_on={"evt_0001"})
    consumer = Consumer("flaky", ("thing.*",), rec.apply)
    sub = FakeSubscription([[Delivery(_env(i)) for i in range(3)]])
    runner = ConsumerRunner(runtime.db, lambda: sub, consumer)
    assert runner.run_once() == 3
    assert sub.acked == ["evt_0000", "evt_0002"]
    assert sub.naked == ["evt_0001"]
    assert _effects(runtime) == ["evt_0000", "evt_0002"]
    with runtime.db.read() as s:  # the failed one is not recorded: it will be applied later
        recorded = set(
            s.scalars(sa.select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == "flaky"))
        )
    assert recorded == {"evt_0000", "evt_0002"}


def test_events_of_other_types_are_not_recorded(runtime: Runtime) -> None:
    rec = Recorder()
    consumer = Consumer("picky", ("thing.*",), rec.apply)
    assert apply_batch(runtime.db, consumer, [_env(1, "other.event"), _env(2)]) == 1
    assert rec.calls == [["evt_0002"]]


_NAMES = itertools.count()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=30), max_size=12), max_size=8))
def test_any_sequence_of_deliveries_applies_each_event_exactly_once(
    runtime: Runtime, deliveries: list[list[int]]
) -> None:
    name = f"prop{next(_NAMES)}"  # a fresh consumer per example (the database is shared)
    applied: list[str] = []

    def apply(_uow: UnitOfWork, envs: list[Envelope]) -> None:
        applied.extend(e["id"] for e in envs)

    consumer = Consumer(name, ("thing.*",), apply)
    for batch in deliveries:
        apply_batch(runtime.db, consumer, [_env(i) for i in batch])
    delivered = {f"evt_{i:04d}" for batch in deliveries for i in batch}
    assert sorted(applied) == sorted(delivered)  # each once, however often delivered
