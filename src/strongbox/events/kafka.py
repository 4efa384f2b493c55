"""Kafka (confluent-kafka, librdkafka): the relay's producer and the consumer groups.

- One topic (``STRONGBOX_BUS_STREAM``), keyed by merchant id: a merchant's events land on one
  partition, in the order published. The producer is idempotent (``enable.idempotence``:
  librdkafka retries without duplicating or reordering within a partition, acks from all
  in-sync replicas).
- A consumer group per consumer (``group.id`` = its name), reading committed messages only
  (``isolation.level=read_committed``), offsets committed by hand after the effect committed
  in the database: a crash before that commit re-reads the messages, and the processed-events
  table skips what was applied. Our consumers write to the database, not back to Kafka, so
  there is no consume-and-produce stage for Kafka transactions to cover (docs/events.md).
- Kafka does not count deliveries: a message read again after a crash or a rebalance is
  counted by the consumer as a duplicate (``strongbox_consumer_events_total``), not as a
  redelivery.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from strongbox.events.bus import Delivery, Envelope, matches

log = logging.getLogger(__name__)

PARTITIONS = 12
FLUSH_SECONDS = 30.0


def bootstrap_of(url: str) -> str:
    """``kafka://host:9092,host2:9092`` -> ``host:9092,host2:9092``."""
    parts = urlsplit(url)
    servers = parts.netloc or parts.path.lstrip("/")
    if not servers:
        raise ValueError("a kafka:// bus URL names at least one broker (kafka://host:9092)")
    return servers


class KafkaBus:
    name = "kafka"

    def __init__(self, url: str, *, topic: str = "STRONGBOX") -> None:
        self.bootstrap = bootstrap_of(url)
        self.topic = topic
        self.published = 0
        self._producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "client.id": "strongbox-relay",
            }
        )
        self._ensure_topic()

    def _ensure_topic(self) -> None:
        meta = self._producer.list_topics(timeout=10)
        if self.topic in meta.topics:
            return
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(self.topic, num_partitions=PARTITIONS)])
        try:
            futures[self.topic].result(timeout=10)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            log.warning(
                "creating Kafka topic %s failed: %s (auto-creation assumed)", self.topic, exc
            )
        except Exception as exc:  # noqa: BLE001 - a broker that creates topics on first use
            log.warning(
                "creating Kafka topic %s failed: %s (auto-creation assumed)", self.topic, exc
            )

    def publish(self, envelope: Envelope) -> None:
        if self.publish_batch([envelope]) != 1:
            raise ConnectionError("Kafka did not acknowledge the event")

    def publish_batch(self, envelopes: Sequence[Envelope]) -> int:
        """Produce in order, wait for every delivery report; the acknowledged prefix."""
        ok = [False] * len(envelopes)

        def report(i: int) -> Any:
            def done(err: KafkaError | None, _msg: Message) -> None:
                ok[i] = err is None
                if err is not None:
                    log.warning("Kafka refused event %s: %s", envelopes[i].get("id"), err)

            return done

        for i, env in enumerate(envelopes):
            self._producer.produce(
                self.topic,
                key=str(env.get("merchant_id") or "platform").encode(),
                value=orjson.dumps(env),
                headers={"event_id": str(env["id"]), "type": str(env["type"])},
                on_delivery=report(i),
            )
        left = self._producer.flush(FLUSH_SECONDS)
        if left:
            log.warning("%d Kafka deliveries outstanding after %.0f s", left, FLUSH_SECONDS)
        n = 0
        for flag in ok:
            if not flag:
                break
            n += 1
        self.published += n
        return n

    def subscribe_group(self, consumer: str, types: Sequence[str]) -> KafkaSubscription:
        return KafkaSubscription(self, consumer, tuple(types))

    def close(self) -> None:
        self._producer.flush(10)


class KafkaSubscription:
    def __init__(self, bus: KafkaBus, consumer: str, types: tuple[str, ...]) -> None:
        self.bus = bus
        self.consumer = consumer
        self.types = types
        self._c = Consumer(
            {
                "bootstrap.servers": bus.bootstrap,
                "group.id": consumer,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "client.id": f"strongbox-{consumer}",
            }
        )
        self._c.subscribe([bus.topic])

    def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        out: list[Delivery] = []
        for msg in self._c.consume(num_messages=batch, timeout=timeout):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("Kafka consumer %s: %s", self.consumer, err)
                continue
            value = msg.value()
            try:
                env = orjson.loads(value or b"")
            except orjson.JSONDecodeError:
                log.error("undecodable Kafka message at offset %s: skipped", msg.offset())
                self._commit([msg])
                continue
            out.append(Delivery(envelope=env, handle=msg))
        return out

    def wanted(self, envelope: Envelope) -> bool:
        return matches(str(envelope.get("type", "")), self.types)

    def _commit(self, msgs: Sequence[Message]) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            key = (str(m.topic()), int(m.partition() or 0))
            last[key] = max(last.get(key, -1), int(m.offset() or 0))
        if last:
            offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
            self._c.commit(offsets=offsets, asynchronous=False)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self._commit([d.handle for d in deliveries])

    def nak(self, deliveries: Sequence[Delivery]) -> None:
        """Read again from the first failed message of each partition (and commit that
        offset, so that a crash before then re-reads it too)."""
        first: dict[tuple[str, int], int] = {}
        for d in deliveries:
            m = d.handle
            key = (str(m.topic()), int(m.partition() or 0))
            first[key] = min(first.get(key, 2**62), int(m.offset() or 0))
        if first:
            self._c.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in first.items()],
                asynchronous=False,
            )
        for (t, p), o in first.items():
            self._c.seek(TopicPartition(t, p, o))

    def lag(self) -> int | None:
        try:
            assigned = self._c.assignment()
            if not assigned:
                return None
            total = 0
            for tp in self._c.committed(assigned, timeout=5):
                _low, high = self._c.get_watermark_offsets(tp, timeout=5)
                total += max(0, high - max(tp.offset, 0))
        except KafkaException:
            return None
        return total

    def close(self) -> None:
        self._c.close()
