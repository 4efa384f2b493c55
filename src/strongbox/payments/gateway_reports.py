"""Outcomes a gateway reports by itself (verified webhooks, translated into
``reports.GatewayReport``): applied through ``outcomes.finish`` like a direct answer, and
disputes opened on the payment they concern."""

from __future__ import annotations

from strongbox.connectors.base import OperationResult, OperationStatus
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import repository as repo
from strongbox.payments import store
from strongbox.payments.deps import Payments
from strongbox.payments.models import Dispute, PaymentAttempt
from strongbox.payments.outcomes import finish
from strongbox.payments.recovery import begin_lookup
from strongbox.payments.reports import GatewayReport, ReportKind
from strongbox.payments.schemas import render_dispute
from strongbox.payments.steps import GatewayOutcome

_REPORT_KINDS: dict[ReportKind, tuple[str, ...]] = {
    ReportKind.PAYMENT_AUTHORIZED: ("authorize",),
    ReportKind.PAYMENT_CAPTURED: ("authorize", "capture"),
    ReportKind.PAYMENT_FAILED: ("authorize", "capture"),
    ReportKind.PAYMENT_VOIDED: ("void",),
    ReportKind.VOID_FAILED: ("void",),
    ReportKind.REFUND_SUCCEEDED: ("refund",),
    ReportKind.REFUND_FAILED: ("refund",),
}


def apply(deps: Payments, uow: UnitOfWork, ctx: RequestContext, report: GatewayReport) -> str:
    """Apply an outcome the gateway reported by itself (a verified webhook).

    The report goes through ``finish`` like a direct answer: an attempt that is already
    finished is left alone, and the state machine refuses anything out of order, so duplicate
    and late reports are harmless. Returns a short description of the effect.
    """
    if report.kind == ReportKind.DISPUTE_OPENED:
        return _open_dispute(uow, ctx, report)
    kinds = _REPORT_KINDS[report.kind]
    attempt: PaymentAttempt | None = None
    if report.idempotency_key:
        attempt = store.attempt_by_gateway_key(
            uow, ctx.merchant_id, report.connector, report.idempotency_key
        )
        if attempt is not None and attempt.kind not in kinds:
            return f"ignored: {report.kind} does not apply to a {attempt.kind} operation"
    if attempt is None and report.gateway_reference:
        candidates = store.open_attempts_by_reference(
            uow, ctx.merchant_id, report.connector, report.gateway_reference, kinds
        )
        if report.amount is not None and kinds == ("refund",):
            candidates = [a for a in candidates if a.amount == report.amount]
        attempt = candidates[0] if candidates else None
    if attempt is None:
        return "ignored: no matching operation"
    result = _report_result(report, attempt)
    if result is None:
        return f"ignored: {report.kind} does not apply to {attempt.id}"
    if attempt.status == "succeeded" or (attempt.status == "failed" and not _success(result)):
        return f"ignored: {attempt.id} already {attempt.status}"
    # An unfinished attempt, or a success reported for one resolved as failed: finish
    # records the first and reconciles the second (payments/late.py).
    call = begin_lookup(deps, uow, attempt)
    step = finish(deps, uow, ctx, call, GatewayOutcome(result=result), cause="webhook")
    pi = step.intent
    if attempt.late_outcome is not None and attempt.late_outcome.get("cause") == "webhook":
        return f"late success of {attempt.id}: {attempt.late_outcome['applied']}"
    return f"applied to {attempt.id}: payment_intent {pi.status if pi else 'unchanged'}"


def _success(result: OperationResult) -> bool:
    return result.status not in (OperationStatus.DECLINED, OperationStatus.NOT_FOUND)


def _report_result(report: GatewayReport, attempt: PaymentAttempt) -> OperationResult | None:
    k = ReportKind
    status: OperationStatus | None = None
    if report.kind == k.PAYMENT_CAPTURED and (attempt.kind == "capture" or attempt.capture):
        status = OperationStatus.CAPTURED
    elif report.kind == k.PAYMENT_AUTHORIZED and not attempt.capture:
        status = OperationStatus.AUTHORIZED
    elif report.kind == k.PAYMENT_AUTHORIZED and report.authorization_captures:
        status = OperationStatus.CAPTURED
    elif report.kind in (k.PAYMENT_FAILED, k.REFUND_FAILED, k.VOID_FAILED):
        status = OperationStatus.DECLINED
    elif report.kind == k.PAYMENT_VOIDED:
        status = OperationStatus.VOIDED
    elif report.kind == k.REFUND_SUCCEEDED:
        status = OperationStatus.REFUNDED
    if status is None:
        return None
    return OperationResult(
        status=status,
        gateway_reference=attempt.gateway_reference or report.gateway_reference,
        amount=report.amount if report.amount is not None else attempt.amount,
        decline_code=(report.decline_code or "generic_decline")
        if status == OperationStatus.DECLINED
        else None,
        message=None,
        raw_status=report.kind.value,
    )


def _open_dispute(uow: UnitOfWork, ctx: RequestContext, report: GatewayReport) -> str:
    if not report.dispute_id or not report.gateway_reference:
        return "ignored: dispute without id or payment reference"
    existing = repo.get_dispute_by_gateway_id(
        uow.session, ctx.merchant_id, report.connector, report.dispute_id
    )
    if existing is not None:
        return f"ignored: dispute {existing.id} already recorded"
    pi = store.intent_by_reference(uow, ctx.merchant_id, report.connector, report.gateway_reference)
    if pi is None:
        return "ignored: no payment with that gateway reference"
    now = uow.clock.now()
    dispute = Dispute(
        id=new_id("dispute"),
        merchant_id=ctx.merchant_id,
        payment_intent_id=pi.id,
        charge_id=pi.latest_charge,
        connector=report.connector,
        gateway_dispute_id=report.dispute_id[:128],
        amount=report.amount if report.amount is not None else pi.amount_received,
        currency=(report.currency or pi.currency).lower()[:3],
        reason=(report.dispute_reason or "general")[:64],
        status="needs_response",
        created=now,
        updated=now,
    )
    uow.session.add(dispute)
    uow.flush()
    raise_event(
        uow,
        ctx,
        "charge.dispute.created",
        "dispute",
        dispute.id,
        render_dispute(dispute, ctx.livemode),
    )
    return f"applied: dispute {dispute.id} opened on {pi.id}"
