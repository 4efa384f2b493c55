"""The Kafka backend against librdkafka's built-in mock cluster (``test.mock.num.brokers``).

What this proves and what it does not (docs/events.md): the client code paths (idempotent
producer, keyed partitioning, consumer groups, manual offset commits, seeking back) against
a broker that speaks the protocol in-process; not replication, broker failures, rebalances
across hosts or transactions across real brokers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from strongbox.events.bus import make_bus
from strongbox.events.kafka import KafkaBus, bootstrap_of
from support import wait_until


@pytest.fixture
def mock_cluster() -> Iterator[str]:
    """A mock cluster lives in the client that asked for it; its brokers listen on
    localhost, so other clients reach it at the addresses its metadata names."""
    owner = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    meta = owner.list_topics(timeout=30)
    servers = ",".join(f"{b.host}:{b.port}" for b in meta.brokers.values())
    yield f"kafka://{servers}"
    owner.flush(5)


def _env(i: int, merchant: str) -> dict[str, Any]:
    return {"id": f"evt_{i:05d}", "type": "payment_intent.succeeded", "merchant_id": merchant}


def _drain(sub: Any, want: int, *, ack: bool = True) -> list[Any]:
    got: list[Any] = []

    def more() -> bool:
        batch = sub.fetch(100, 1.0)
        if ack:
            sub.ack(batch)
        got.extend(batch)
        return len(got) >= want

    wait_until(more, f"{want} Kafka messages", seconds=90)
    return got


def test_bootstrap_servers_come_from_the_url() -> None:
    assert bootstrap_of("kafka://a:9092,b:9092") == "a:9092,b:9092"
    with pytest.raises(ValueError, match="names at least one broker"):
        bootstrap_of("kafka://")


def test_events_keep_their_order_per_merchant_and_acked_ones_are_not_read_again(
    mock_cluster: str,
) -> None:
    bus = make_bus(mock_cluster, stream="events")
    assert isinstance(bus, KafkaBus)
    batch = [_env(i, "acct_a" if i % 3 else "acct_b") for i in range(30)]
    assert bus.publish_batch(batch) == 30
    sub = bus.subscribe_group("settlement", ("payment_intent.*",))
    got = _drain(sub, 30)
    for merchant in ("acct_a", "acct_b"):
        mine = [d.envelope["id"] for d in got if d.envelope["merchant_id"] == merchant]
        assert mine == [e["id"] for e in batch if e["merchant_id"] == merchant]
    sub.close()
    assert bus.publish_batch([_env(100, "acct_a")]) == 1
    again = bus.subscribe_group("settlement", ("payment_intent.*",))
    [only] = _drain(again, 1)
    assert only.envelope["id"] == "evt_00100"  # the committed offsets held across members
    again.close()
    bus.close()


def test_a_nak_reads_the_message_again(mock_cluster: str) -> None:
    bus = make_bus(mock_cluster, stream="retry")
    assert isinstance(bus, KafkaBus)
    assert bus.publish_batch([_env(i, "acct_a") for i in range(3)]) == 3
    sub = bus.subscribe_group("webhooks", ("*",))
    first = _drain(sub, 3, ack=False)
    sub.ack(first[:1])
    sub.nak(first[1:])
    second = _drain(sub, 2)
    assert [d.envelope["id"] for d in second][:2] == ["evt_00001", "evt_00002"]
    sub.close()
    bus.close()
