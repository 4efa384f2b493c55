"""Outcomes a gateway reports on its own (webhooks), normalised for the payments service.

A gateway may tell us later what became of an operation: an asynchronous capture settled or
failed, a refund succeeded or failed, a dispute was opened. Inbound webhook translators turn
each gateway's event into a ``GatewayReport``; ``payments.gateway_reports.apply``
applies it through the same ``finish`` path (and state machine) as a direct answer, so a
duplicate or late report changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReportKind(enum.StrEnum):
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_VOIDED = "payment.voided"
    VOID_FAILED = "void.failed"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    DISPUTE_OPENED = "dispute.opened"


@dataclass(frozen=True, slots=True)
class GatewayReport:
    kind: ReportKind
    connector: str
    # Which operation: our idempotency key (``strongbox-pa_…``) when the gateway echoes it,
    # else the payment's reference at the gateway.
    idempotency_key: str | None = None
    gateway_reference: str | None = None
    amount: int | None = None
    currency: str | None = None
    decline_code: str | None = None
    message: str | None = None
    dispute_id: str | None = None
    dispute_reason: str | None = None
    # The gateway captured an authorization that asked for automatic capture (Adyen with
    # ``captureDelayHours: 0``): PAYMENT_AUTHORIZED then means captured for such attempts.
    authorization_captures: bool = False
