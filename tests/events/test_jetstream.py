"""The JetStream backend against the NATS server (STRONGBOX_TEST_NATS_URL), one stream per test."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest

from strongbox.events.bus import make_bus
from strongbox.events.jetstream import JetStreamBus, subject_of
from support import wait_until


def _env(
    i: int, merchant: str = "acct_a", type_: str = "payment_intent.succeeded"
) -> dict[str, Any]:
    return {"id": f"evt_{i:06d}", "type": type_, "merchant_id": merchant, "created": 1, "data": {}}


def _stream_messages(url: str, stream: str) -> int:
    async def count() -> int:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info(stream)
            return int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


@pytest.fixture
def bus(nats_url: str, bus_stream: str) -> Any:
    b = make_bus(nats_url, stream=bus_stream, duplicate_window=120)
    assert isinstance(b, JetStreamBus)
    yield b
    b.close()


def test_the_stream_is_created_at_start_and_checked_on_the_next(
    nats_url: str, bus_stream: str, bus: JetStreamBus
) -> None:
    assert _stream_messages(nats_url, bus_stream) == 0
    again = JetStreamBus(nats_url, stream=bus_stream, duplicate_window=120)
    again.close()
    assert (
        subject_of(bus_stream, _env(1)) == f"{bus_stream.lower()}.acct_a.payment_intent.succeeded"
    )


def test_a_batch_is_published_in_order_and_a_republished_batch_is_dropped_as_duplicates(
    nats_url: str, bus_stream: str, bus: JetStreamBus
) -> None:
    batch = [_env(i, merchant="acct_a" if i % 2 else "acct_b") for i in range(50)]
    assert bus.publish_batch(batch) == 50
    # A relay that died before marking them published sends the same ids again.
    assert bus.publish_batch(batch) == 50
    assert _stream_messages(nats_url, bus_stream) == 50
    sub = bus.subscribe_group("orderly", ("*",))
    got: list[str] = []
    wait_until(lambda: got.extend(d.envelope["id"] for d in _acked(sub)) or len(got) >= 50, "all")
    assert got == [e["id"] for e in batch]
    sub.close()


def _acked(sub: Any) -> list[Any]:
    ds = sub.fetch(100, 1.0)
    sub.ack(ds)
    return list(ds)


def test_a_consumer_group_is_shared_and_an_unacknowledged_message_comes_back(
    bus: JetStreamBus,
) -> None:
    assert bus.publish_batch([_env(i) for i in range(20)]) == 20
    first = bus.subscribe_group("shared", ("payment_intent.*",))
    second = bus.subscribe_group("shared", ("payment_intent.*",))
    a = first.fetch(10, 2.0)
    b = wait_until(lambda: second.fetch(10, 1.0), "the second member's share")
    ids_a = {d.envelope["id"] for d in a}
    ids_b = {d.envelope["id"] for d in b}
    assert ids_a
    assert not ids_a & ids_b  # one group: each message to one member at a time
    first.ack(a[1:])
    first.nak(a[:1])  # its effect did not commit: delivered again
    again = wait_until(
        lambda: [d for d in second.fetch(20, 1.0) if d.envelope["id"] == a[0].envelope["id"]],
        "the redelivery",
    )
    assert again[0].redelivered
    assert again[0].deliveries == 2
    first.close()
    second.close()
    assert bus.consumer_pending("shared") is not None
