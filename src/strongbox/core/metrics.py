"""Prometheus metrics shared across domains (served by ``api/metrics.py``'s listener)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "strongbox_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "strongbox_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
GATEWAY_CALLS = Counter(
    "strongbox_gateway_calls_total", "Gateway calls", ["connector", "operation", "outcome"]
)
GATEWAY_LATENCY = Histogram(
    "strongbox_gateway_call_seconds",
    "Gateway call latency",
    ["connector", "operation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PAYMENT_TRANSITIONS = Counter(
    "strongbox_payment_intent_transitions_total",
    "PaymentIntent status changes",
    ["to_status"],
)
IDEMPOTENT_REPLAYS = Counter("strongbox_idempotent_replays_total", "Idempotent replays served")
RECOVERED_ATTEMPTS = Counter(
    "strongbox_recovered_attempts_total", "Attempts resolved by the recovery worker", ["outcome"]
)
LATE_OUTCOMES = Counter(
    "strongbox_late_gateway_outcomes_total",
    "Gateway successes that arrived after their attempt was resolved as failed, by what was "
    "done with them (payment_intent: the intent took the charge; reversal: voided or refunded "
    "at the gateway; operator: recorded for a human)",
    ["connector", "operation", "applied"],
)
AWAITING_WEBHOOK = Counter(
    "strongbox_recovery_awaiting_webhook_total",
    "Unfinished attempts the recovery worker left to the gateway's webhook (connectors "
    "without a status lookup, e.g. Adyen), per pass",
    ["connector", "operation"],
)
COMPLIANCE_FAILING = Gauge(
    "strongbox_compliance_control_failing",
    "1 while a PCI DSS control failed in the latest compliance run, else 0 (not applicable: 0)",
    ["control"],
)
