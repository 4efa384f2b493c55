"""Prometheus metrics of the relay and the bus consumers (served by ``api/metrics.py``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RELAY_LAG = Gauge(
    "strongbox_relay_lag_seconds",
    "Age of the oldest committed event the relay has not published yet (0: none waiting).",
    multiprocess_mode="max",
)
RELAY_PUBLISHED = Counter(
    "strongbox_relay_published_events_total", "Events the outbox relay published to the bus."
)
CONSUMER_LAG = Gauge(
    "strongbox_consumer_lag_events",
    "Events on the bus a consumer group has not acknowledged yet.",
    ["consumer"],
    multiprocess_mode="max",
)
CONSUMER_REDELIVERIES = Counter(
    "strongbox_consumer_redeliveries_total",
    "Messages a consumer received more than once (a crash or timeout before its ack).",
    ["consumer"],
)
CONSUMER_EVENTS = Counter(
    "strongbox_consumer_events_total",
    "Events a consumer handled: applied, duplicate (already applied: skipped), failed.",
    ["consumer", "outcome"],
)
