"""In-transaction dispatch, the transactional outbox and the relay."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.db.uow import UnitOfWork
from strongbox.events.models import OutboxEvent
from strongbox.events.relay import relay_once
from strongbox.events.types import DomainEvent
from strongbox.payments.models import PaymentIntent
from strongbox.runtime import Runtime

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def _count(rt: Runtime, model: type) -> int:
    with rt.db.read() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_subscribers_run_inside_the_transaction(api: TestClient, runtime: Runtime) -> None:
    seen: list[tuple[str, bool]] = []

    def subscriber(uow: UnitOfWork, event: DomainEvent) -> None:
        # The intent row is visible inside the same transaction, before commit.
        row = uow.session.scalar(
            sa.select(PaymentIntent).where(PaymentIntent.id == event.resource_id)
        )
        seen.append((event.type, row is not None))

    runtime.dispatcher.subscribe("payment_intent.*", subscriber)
    pi = api.post("/v1/payment_intents", data=PAY).json()
    assert ("payment_intent.created", True) in seen
    assert ("payment_intent.succeeded", True) in seen
    assert pi["status"] == "succeeded"


def test_a_subscriber_that_reads_nothing_does_not_flush_the_session(
    api: TestClient, runtime: Runtime
) -> None:
    pending: list[tuple[str, bool]] = []

    def blind(uow: UnitOfWork, event: DomainEvent) -> None:
        unsent = uow.queued()
        pending.append((event.type, any("INSERT INTO payment_intents" in q for q in unsent)))

    runtime.dispatcher.subscribe("payment_intent.created", blind, reads_db=False)
    pi = api.post("/v1/payment_intents", data=PAY).json()
    # Only the audit log (reads_db=False too) and this subscriber match: the new intent is
    # still unflushed when they run; it is written later in the same transaction.
    assert pending == [("payment_intent.created", True)]
    assert pi["status"] == "succeeded"
    with runtime.db.read() as s:
        stored = s.scalar(sa.select(PaymentIntent.status).where(PaymentIntent.id == pi["id"]))
    assert stored == "succeeded"


def test_a_failing_subscriber_rolls_back_the_whole_write(api: TestClient, runtime: Runtime) -> None:
    def failing(_uow: UnitOfWork, _event: DomainEvent) -> None:
        raise RuntimeError("ledger unavailable")

    runtime.dispatcher.subscribe("customer.created", failing)
    r = api.post("/v1/customers", data={"email": "x@example.com"})
    assert r.status_code == 500
    assert api.get("/v1/customers").json()["data"] == []
    assert _count(runtime, OutboxEvent) == 0


def test_relay_publishes_each_event_once_in_order(api: TestClient, runtime: Runtime) -> None:
    received: list[dict[str, Any]] = []
    runtime.bus.subscribe("*", received.append)
    api.post("/v1/payment_intents", data=PAY)
    assert relay_once(runtime.db, runtime.bus) == 2
    assert relay_once(runtime.db, runtime.bus) == 0
    assert [e["type"] for e in received] == ["payment_intent.created", "payment_intent.succeeded"]
    assert all(e["object"] == "event" and e["id"].startswith("evt_") for e in received)
    with runtime.db.read() as s:
        unpublished = s.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None))
        )
    assert unpublished == 0


def test_a_bus_failure_leaves_events_for_the_next_pass(api: TestClient, runtime: Runtime) -> None:
    class FlakyBus:
        def __init__(self) -> None:
            self.calls = 0
            self.delivered: list[str] = []

        def publish(self, envelope: dict[str, Any]) -> None:
            self.calls += 1
            if self.calls == 2:
                raise ConnectionError("broker down")
            self.delivered.append(envelope["type"])

        def close(self) -> None:
            return None

    bus = FlakyBus()
    api.post("/v1/payment_intents", data=PAY)
    assert relay_once(runtime.db, bus) == 1
    # The unpublished event is leased for 30 s; expire the lease to retry now.
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.update(OutboxEvent).values(claimed_until=None))
        uow.commit()
    assert relay_once(runtime.db, bus) == 1
    assert bus.delivered == ["payment_intent.created", "payment_intent.succeeded"]


def test_events_carry_request_and_idempotency_key(api: TestClient) -> None:
    r = api.post("/v1/customers", data={"name": "A"}, headers={"Idempotency-Key": "ev-key"})
    events = api.get("/v1/events", params={"type": "customer.created"}).json()["data"]
    assert len(events) == 1
    assert events[0]["request"] == {"id": r.headers["Request-Id"], "idempotency_key": "ev-key"}
    assert events[0]["data"]["object"]["id"] == r.json()["id"]


def test_events_never_contain_card_numbers(api: TestClient) -> None:
    api.post("/v1/payment_intents", data=PAY)
    body = api.get("/v1/events", params={"limit": 100}).text
    assert "4242424242424242" not in body


@pytest.mark.parametrize("pattern", ["payment_intent.*", "*"])
def test_glob_subscriptions(api: TestClient, runtime: Runtime, pattern: str) -> None:
    got: list[str] = []
    runtime.dispatcher.subscribe(pattern, lambda _u, e: got.append(e.type))
    api.post("/v1/payment_intents", data=PAY)
    assert "payment_intent.succeeded" in got


def test_consumers_record_each_event_once(api: TestClient, runtime: Runtime) -> None:
    from strongbox.events.repository import mark_processed

    api.post("/v1/customers", data={"name": "A"})
    event_id = api.get("/v1/events").json()["data"][0]["id"]
    with runtime.db.unit_of_work() as uow:
        now = uow.clock.now()
        assert mark_processed(uow.session, "webhooks", event_id, now) is True
        assert mark_processed(uow.session, "webhooks", event_id, now) is False
        assert mark_processed(uow.session, "ledger", event_id, now) is True  # per consumer
        uow.commit()
    with runtime.db.unit_of_work() as uow:
        assert mark_processed(uow.session, "webhooks", event_id, uow.clock.now()) is False


def test_internal_events_reach_subscribers_but_not_the_outbox(
    runtime: Runtime, merchant: Any
) -> None:
    from datetime import UTC, datetime

    from strongbox.events.types import RequestContext

    seen: list[str] = []
    runtime.dispatcher.subscribe("strongbox.*", lambda _uow, e: seen.append(e.type))
    event = DomainEvent(
        id="evt_internal_1",
        type="strongbox.test.happened",
        merchant_id=merchant.id,
        resource_type="test",
        resource_id="x_1",
        object={"id": "x_1"},
        created=datetime.now(UTC),
        context=RequestContext(merchant_id=merchant.id, actor="system:test"),
        internal=True,
    )
    with runtime.db.unit_of_work() as uow:
        uow.raise_event(event)
        uow.commit()
    assert seen == ["strongbox.test.happened"]
    assert _count(runtime, OutboxEvent) == 0
