"""A gateway success that arrives after its attempt was resolved as failed is never dropped.

How it can happen: recovery resolved an attempt the gateway had no record of (a gateway
without idempotency keys, or a lookup that lagged) while the request was, after all, on its
way; or a webhook reports a success that a lookup missed. Whatever the path, ``outcomes.finish``
hands such an answer here, and it is:

* **recorded** on the attempt (``late_outcome``: what the gateway said, when, and what was
  done), counted (``strongbox_late_gateway_outcomes_total``) and **logged as an error**;
* **reconciled**: an authorization's intent takes the charge if it still can (it is waiting
  for a payment method, nothing else is in progress, same amount and currency): it succeeds
  (or waits for capture) and the ledger posts as for any success. Otherwise the charge is
  **reversed automatically** at the gateway: voided if only authorized, refunded if
  captured, by a new attempt that ``reverses`` the late one (the intent's own amounts are
  not touched: that money never belonged to it). A late capture is applied if the intent
  still waits for one; late voids and refunds are recorded for an operator;
* **audited** and **raised as an event** in the same transaction
  (``payment_attempt.late_success``, then ``payment_attempt.reversed`` or
  ``payment_attempt.reversal_failed``), which webhooks and the bus receive.
"""

from __future__ import annotations

import logging
from typing import Any

from strongbox.connectors.base import (
    OperationKind,
    OperationStatus,
    RefundRequest,
    TerminalError,
    UnknownOutcomeError,
    VoidRequest,
)
from strongbox.core import metrics
from strongbox.core.clock import to_unix
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import capture, recovery
from strongbox.payments.common import close, gateway_call, intent_event, new_attempt, set_status
from strongbox.payments.deps import Payments
from strongbox.payments.models import PaymentAttempt, PaymentIntent, Refund
from strongbox.payments.schemas import CapturePaymentIntentParams
from strongbox.payments.state import Status, Trigger
from strongbox.payments.steps import GatewayOutcome, Step

log = logging.getLogger(__name__)

_SUCCESS: dict[str, frozenset[OperationStatus]] = {
    OperationKind.AUTHORIZE.value: frozenset(
        {OperationStatus.CAPTURED, OperationStatus.AUTHORIZED}
    ),
    OperationKind.CAPTURE.value: frozenset({OperationStatus.CAPTURED}),
    OperationKind.VOID.value: frozenset({OperationStatus.VOIDED}),
    OperationKind.REFUND.value: frozenset({OperationStatus.REFUNDED}),
}
_TAKES_A_CHARGE = frozenset({Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION})


def reconcile(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    refund: Refund | None,
    outcome: GatewayOutcome,
    cause: str,
) -> Step | None:
    """Handle a success reported for an attempt already resolved as failed; None when the
    outcome is no such thing (a repeated failure, or a late outcome already handled).

    An unknown outcome for such an attempt (its request ended in a timeout after it was
    resolved) may hide a success: the gateway is asked once more, and what it says is
    reconciled here in turn."""
    result = outcome.result
    if attempt.status != "failed" or attempt.late_outcome is not None or attempt.reverses:
        return None
    doubtful = isinstance(outcome.error, UnknownOutcomeError) or (
        result is not None and result.status == OperationStatus.PENDING
    )
    if doubtful and not outcome.from_lookup:
        return Step(intent=pi, refund=refund, call=recovery.begin_lookup(deps, uow, attempt))
    if doubtful:
        log.error(
            "%s attempt %s of %s was resolved as failed; a later answer left its outcome "
            "unknown and the gateway cannot say: check it at %s",
            attempt.kind,
            attempt.id,
            pi.id,
            attempt.connector,
        )
        attempt.late_outcome = {"status": "unknown", "applied": "operator", "cause": cause}
        metrics.LATE_OUTCOMES.labels(attempt.connector, attempt.kind, "operator").inc()
        return Step(intent=pi, refund=refund)
    if result is None or result.status not in _SUCCESS[attempt.kind]:
        return None
    amount = result.amount if result.amount is not None else attempt.amount
    reference = result.gateway_reference or attempt.gateway_reference
    log.error(
        "late gateway success: %s attempt %s of %s on %s reported %s (%s %s) after it was "
        "resolved as failed (%s); reconciling",
        attempt.kind,
        attempt.id,
        pi.id,
        attempt.connector,
        result.status.value,
        amount,
        attempt.currency,
        attempt.error_code or attempt.decline_code or "failed",
    )
    record: dict[str, Any] = {
        "status": result.status.value,
        "gateway_reference": reference,
        "amount": amount,
        "reported": to_unix(uow.clock.now()),
        "cause": cause,
        "resolved_as": attempt.decline_code or attempt.error_code,
    }
    step = Step(intent=pi, refund=refund)
    applied = "operator"
    if attempt.kind == OperationKind.AUTHORIZE.value:
        if _intent_takes_it(pi, attempt):
            step = _take_charge(deps, uow, ctx, attempt, pi, result.status, amount, reference)
            applied = "payment_intent"
        else:
            step = _reverse(deps, uow, ctx, attempt, pi, result.status, amount, reference)
            applied = "reversal"
    elif (
        attempt.kind == OperationKind.CAPTURE.value
        and pi.status == Status.REQUIRES_CAPTURE
        and not pi.pending_operation
    ):
        close(uow, attempt, "succeeded")
        pi.amount_received = amount
        pi.amount_capturable = 0
        set_status(uow, ctx, pi, Trigger.CAPTURE, "late_success", attempt.id)
        intent_event(uow, ctx, "payment_intent.succeeded", pi, authorized_first=True)
        applied = "payment_intent"
    record["applied"] = applied
    attempt.late_outcome = record
    attempt.updated = uow.clock.now()
    metrics.LATE_OUTCOMES.labels(attempt.connector, attempt.kind, applied).inc()
    raise_event(
        uow,
        ctx,
        "payment_attempt.late_success",
        "payment_attempt",
        attempt.id,
        render_attempt(attempt),
    )
    return step


def _intent_takes_it(pi: PaymentIntent, attempt: PaymentAttempt) -> bool:
    return (
        Status(pi.status) in _TAKES_A_CHARGE
        and not pi.pending_operation
        and pi.latest_charge is None
        and pi.amount == attempt.amount
        and pi.currency == attempt.currency
    )


def _take_charge(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    status: OperationStatus,
    amount: int,
    reference: str | None,
) -> Step:
    """The intent was still waiting for a payment: the late charge is its payment."""
    close(uow, attempt, "succeeded")
    attempt.gateway_status = status.value
    attempt.gateway_reference = reference
    pi.gateway_reference = reference
    pi.connector = attempt.connector
    pi.connector_account_id = attempt.connector_account_id
    pi.latest_charge = attempt.charge_id
    pi.last_payment_error = None
    pi.next_action = None
    if status == OperationStatus.CAPTURED:
        pi.amount_received = amount
        pi.amount_capturable = 0
        set_status(uow, ctx, pi, Trigger.LATE_CAPTURED, "late_success", attempt.id)
        intent_event(uow, ctx, "payment_intent.succeeded", pi, authorized_first=False)
        return Step(intent=pi)
    pi.amount_capturable = attempt.amount
    set_status(uow, ctx, pi, Trigger.LATE_AUTHORIZED, "late_success", attempt.id)
    intent_event(uow, ctx, "payment_intent.amount_capturable_updated", pi)
    if attempt.capture:  # automatic capture was asked for: capture it now, as usual
        return capture.begin_capture(deps, uow, ctx, pi.id, CapturePaymentIntentParams())
    return Step(intent=pi)


def _reverse(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    status: OperationStatus,
    amount: int,
    reference: str | None,
) -> Step:
    """The intent cannot take the charge (it succeeded otherwise, was canceled, changed):
    give the money back at the gateway. The late attempt stays failed for the intent."""
    kind = OperationKind.VOID if status == OperationStatus.AUTHORIZED else OperationKind.REFUND
    reversal = new_attempt(deps, uow, ctx, pi, kind, attempt.connector, amount)
    reversal.reverses = attempt.id
    reversal.gateway_reference = reference
    reversal.connector_account_id = attempt.connector_account_id
    reversal.charge_id = attempt.charge_id
    reversal.routing_reason = f"reverses the late {status.value} charge of {attempt.id}"
    key = reversal.gateway_idempotency_key
    if kind == OperationKind.VOID:
        request: VoidRequest | RefundRequest = VoidRequest(
            idempotency_key=key, gateway_reference=reference or "", merchant_id=pi.merchant_id
        )
    else:
        request = RefundRequest(
            idempotency_key=key,
            gateway_reference=reference or "",
            amount=amount,
            currency=attempt.currency,
            merchant_id=pi.merchant_id,
            reason="duplicate",
        )
    return Step(intent=pi, call=gateway_call(deps, uow, reversal, request))


def finish_reversal(
    uow: UnitOfWork,
    ctx: RequestContext,
    reversal: PaymentAttempt,
    pi: PaymentIntent,
    late: PaymentAttempt | None,
    outcome: GatewayOutcome,
) -> Step:
    """Record a reversal's answer. Not definitive: recovery keeps asking. A refusal: an
    operator must act (logged as an error, raised as an event)."""
    result = outcome.result
    if outcome.error is not None or result is None:
        error = outcome.error
        if not isinstance(error, TerminalError):  # not processed, or maybe: ask again later
            reversal.status = "unknown"
            reversal.error_code = type(error).__name__ if error is not None else None
            return Step(intent=pi)
    reversal.gateway_status = result.status.value if result is not None else None
    done = result is not None and result.status in (
        OperationStatus.VOIDED,
        OperationStatus.REFUNDED,
    )
    if result is not None and result.status == OperationStatus.PENDING:
        reversal.status = "unknown"
        return Step(intent=pi)
    close(uow, reversal, "succeeded" if done else "failed")
    if not done:
        reversal.decline_code = result.decline_code if result is not None else None
        log.error(
            "could not reverse the late charge %s of %s at %s: %s; an operator must refund it",
            reversal.reverses,
            pi.id,
            reversal.connector,
            result.status.value if result is not None else type(outcome.error).__name__,
        )
    if late is not None and late.late_outcome is not None:
        late.late_outcome = {
            **late.late_outcome,
            "reversal": reversal.id,
            "reversed": done,
        }
    raise_event(
        uow,
        ctx,
        "payment_attempt.reversed" if done else "payment_attempt.reversal_failed",
        "payment_attempt",
        reversal.id,
        render_attempt(reversal),
    )
    return Step(intent=pi)


def render_attempt(a: PaymentAttempt) -> dict[str, Any]:
    """An attempt as its events carry it (no card data, no credentials)."""
    return {
        "id": a.id,
        "object": "payment_attempt",
        "payment_intent": a.payment_intent_id,
        "kind": a.kind,
        "status": a.status,
        "connector": a.connector,
        "connector_account": a.connector_account_id,
        "amount": a.amount,
        "currency": a.currency,
        "charge": a.charge_id,
        "gateway_reference": a.gateway_reference,
        "late_outcome": a.late_outcome,
        "reverses": a.reverses,
        "created": to_unix(a.created),
    }
