"""Recording a gateway's answer (phase 3 of every operation), in a new unit of work.

``finish`` is idempotent: a finished attempt is left alone, except that a success reported
after it was resolved as failed is reconciled (``payments/late.py``). Each kind of operation
has its rule: where the intent's status changes (through ``common.set_status``, which leaves
the history row) and which event is raised; the ledger posts from those events in the same
transaction (``ledger/handlers.py``). An unknown outcome leaves the attempt ``unknown`` for
recovery (``payments/recovery.py``), which asks the gateway; when the gateway has no record
and dedupes by our key, recovery re-sends the same request under it, so the outcome becomes
definitive instead of "not charged" (a request still on its way cannot charge later).
"""

from __future__ import annotations

from strongbox.connectors.base import (
    AuthorizeRequest,
    OperationKind,
    OperationResult,
    OperationStatus,
    RetryableError,
    UnknownOutcomeError,
)
from strongbox.core.errors import CardError, GatewayError, ResourceMissingError
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.payments import capture, confirm, late, recovery, store
from strongbox.payments.common import (
    abandon_action,
    close,
    diff,
    intent_event,
    require_intent,
    set_status,
)
from strongbox.payments.deps import Payments
from strongbox.payments.errors import payment_error, technical_error
from strongbox.payments.models import PaymentAttempt, PaymentIntent, Refund
from strongbox.payments.schemas import CapturePaymentIntentParams, render_intent, render_refund
from strongbox.payments.state import Status, Trigger
from strongbox.payments.steps import GatewayCall, GatewayOutcome, Step


def finish(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    call: GatewayCall,
    outcome: GatewayOutcome,
    *,
    cause: str = "gateway",
) -> Step:
    """Record a gateway outcome (phase 3). Idempotent: a finished attempt is left alone."""
    attempt = store.get_attempt(uow, call.merchant_id, call.attempt_id, lock=True)
    if attempt is None:  # pragma: no cover - attempts are never deleted
        raise ResourceMissingError(f"No such attempt: '{call.attempt_id}'")
    pi = require_intent(uow, ctx, attempt.payment_intent_id, lock=True)
    refund = (
        store.get_refund(uow, attempt.merchant_id, attempt.refund_id, lock=True)
        if attempt.refund_id
        else None
    )
    attempt.lease_until = None  # the call is over: no one holds the attempt any more
    if attempt.status in ("succeeded", "failed"):
        late_step = late.reconcile(deps, uow, ctx, attempt, pi, refund, outcome, cause)
        if late_step is not None:
            return late_step
        return Step(intent=pi, refund=refund, extra={"already_finished": True})
    attempt.lookups += 1 if call.is_lookup else 0
    attempt.updated = uow.clock.now()
    if attempt.reverses is not None:
        reversed_ = store.get_attempt(uow, attempt.merchant_id, attempt.reverses, lock=True)
        return late.finish_reversal(uow, ctx, attempt, pi, reversed_, outcome)
    if outcome.from_replay and outcome.error is not None:
        # Recovery re-sent the request and got no answer: nothing is decided; ask again.
        attempt.status = "unknown"
        attempt.error_code = type(outcome.error).__name__
        attempt.error_message = outcome.error.message[:500]
        return Step(intent=pi, refund=refund)
    if (
        outcome.from_lookup
        and outcome.result is not None
        and outcome.result.status == OperationStatus.NOT_FOUND
        and attempt.status != "requires_action"
        and recovery.can_replay(deps, attempt)
    ):
        # The gateway never saw it: send it again under its key, so it is decided for good.
        return Step(
            intent=pi,
            refund=refund,
            call=recovery.begin_replay(deps, uow, ctx, attempt, pi, refund),
        )
    kind = OperationKind(attempt.kind)
    if kind == OperationKind.AUTHORIZE:
        step = _finish_authorize(deps, uow, ctx, attempt, pi, outcome, cause)
        if attempt.status not in ("started", "unknown") and _may_hold_cvc(call):
            _forget_cvc(deps, uow, ctx, attempt, pi)  # decided: the CVC has done its job
        return step
    if kind == OperationKind.CAPTURE:
        return _finish_capture(uow, ctx, attempt, pi, outcome, cause)
    if kind == OperationKind.VOID:
        return _finish_void(uow, ctx, attempt, pi, outcome, cause)
    assert refund is not None
    return _finish_refund(uow, ctx, attempt, pi, refund, outcome, cause)


def _may_hold_cvc(call: GatewayCall) -> bool:
    """Whether the vault may still hold a CVC for this payment method: only a vaulted card's
    unused one, as the call's start knew (test cards and gateway tokens never have one);
    nothing to delete, no DELETE to run, otherwise. A lookup or a replay does not say, so the
    DELETE runs."""
    if isinstance(call.request, AuthorizeRequest) and not call.replay:
        return call.holds_cvc
    return True


def _forget_cvc(
    deps: Payments, uow: UnitOfWork, ctx: RequestContext, attempt: PaymentAttempt, pi: PaymentIntent
) -> None:
    """PCI DSS 3.3.1: the CVC went to the gateway once; destroy it in this transaction.

    One DELETE (usually matching nothing: only a first authorization has a CVC); the payment
    method is loaded only when a CVC was destroyed, to record the check.
    """
    if deps.vault is None or not pi.payment_method_id:
        return
    if not deps.vault.destroy_cvc(uow, ctx, pi.merchant_id, pi.payment_method_id):
        return
    pm = store.get_payment_method(uow, pi.merchant_id, pi.payment_method_id)
    if pm is None or pm.card_cvc_check != "unchecked":
        return
    if attempt.decline_code == "incorrect_cvc":
        pm.card_cvc_check = "fail"
    elif attempt.status in ("succeeded", "requires_action"):
        pm.card_cvc_check = "pass"
    else:
        pm.card_cvc_check = "unavailable"


def _decline(
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    trigger: Trigger,
    decline_code: str,
    message: str | None,
    cause: str,
    *,
    bank: bool = False,
) -> Step:
    attempt.decline_code = decline_code
    close(uow, attempt, "failed")
    pi.pending_operation = None
    pi.next_action = None
    pi.last_payment_error = payment_error(pi.payment_method_id, decline_code, message, bank=bank)
    set_status(uow, ctx, pi, trigger, cause, attempt.id)
    intent_event(uow, ctx, "payment_intent.payment_failed", pi)
    err = pi.last_payment_error
    return Step(
        intent=pi,
        error=CardError(
            err["message"],
            code=err["code"],
            decline_code=err.get("decline_code"),
            param=err.get("param"),
            payment_intent=render_intent(None, pi),
        ),
    )


def _finish_authorize(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    outcome: GatewayOutcome,
    cause: str,
) -> Step:
    in_action = attempt.status == "requires_action"
    result = outcome.result
    if outcome.error is not None:
        if isinstance(outcome.error, UnknownOutcomeError):
            attempt.status = "unknown"
            attempt.error_code = "unknown_outcome"
            attempt.error_message = outcome.error.message[:500]
            return Step(intent=pi)  # stays processing until the recovery worker resolves it
        if in_action:
            return Step(intent=pi)  # lookup failed; try again later
        if outcome.from_lookup:
            # The lookup failed, not the authorization: it may have charged. Ask again later.
            attempt.status = "unknown"
            return Step(intent=pi)
        if isinstance(outcome.error, RetryableError) and attempt.status == "started":
            failover = confirm.failover(deps, uow, ctx, attempt, pi, outcome.error)
            if failover is not None:
                return failover
        err = technical_error(attempt, outcome.error, pi)
        close(uow, attempt, "failed")
        pi.pending_operation = None
        pi.last_payment_error = {
            "type": err.type,
            "code": err.code,
            "message": err.message,
            **({"param": err.param} if err.param else {}),
        }
        set_status(uow, ctx, pi, Trigger.FAILED, cause, attempt.id)
        intent_event(uow, ctx, "payment_intent.payment_failed", pi)
        err.payment_intent = render_intent(None, pi)
        return Step(intent=pi, error=err)
    assert result is not None
    attempt.gateway_status = result.status.value
    if result.gateway_reference:
        attempt.gateway_reference = result.gateway_reference
        pi.gateway_reference = result.gateway_reference
    status = result.status
    if status in (OperationStatus.PENDING,) or (
        status == OperationStatus.REQUIRES_ACTION and in_action
    ):
        if attempt.status == "started" and status == OperationStatus.PENDING:
            attempt.status = "unknown"
            if result.details.get("payment_method_type") == "us_bank_account":
                # An ACH debit sent: Stripe says so with payment_intent.processing.
                intent_event(uow, ctx, "payment_intent.processing", pi)
        return Step(intent=pi)
    failed = Trigger.ACTION_FAILED if in_action else Trigger.FAILED
    if status == OperationStatus.NOT_FOUND:
        # The gateway never saw the request: nothing was charged. Fail the attempt.
        return _decline(uow, ctx, attempt, pi, failed, "processing_error", None, cause)
    if status == OperationStatus.DECLINED:
        code = result.decline_code or "generic_decline"
        bank = result.details.get("payment_method_type") == "us_bank_account"  # an ACH return
        return _decline(uow, ctx, attempt, pi, failed, code, result.message, cause, bank=bank)
    if status == OperationStatus.REQUIRES_ACTION:
        attempt.status = "requires_action"
        attempt.updated = uow.clock.now()
        action = result.next_action
        attempt.action_reference = action.reference if action else None
        pi.next_action = {
            "type": "redirect_to_url",
            "redirect_to_url": {
                "url": action.redirect_url if action else None,
                "return_url": pi.return_url,
            },
        }
        pi.pending_operation = None
        set_status(uow, ctx, pi, Trigger.ACTION_REQUIRED, cause, attempt.id)
        intent_event(uow, ctx, "payment_intent.requires_action", pi)
        return Step(intent=pi)
    if in_action:
        pi.next_action = None
        set_status(uow, ctx, pi, Trigger.ACTION_COMPLETED, cause, attempt.id)
    if status == OperationStatus.CAPTURED:
        close(uow, attempt, "succeeded")
        pi.pending_operation = None
        pi.latest_charge = attempt.charge_id
        pi.amount_received = result.amount if result.amount is not None else attempt.amount
        pi.amount_capturable = 0
        set_status(uow, ctx, pi, Trigger.CAPTURED, cause, attempt.id)
        intent_event(uow, ctx, "payment_intent.succeeded", pi, authorized_first=False)
        return Step(intent=pi)
    if status == OperationStatus.AUTHORIZED:
        close(uow, attempt, "succeeded")
        pi.pending_operation = None
        pi.latest_charge = attempt.charge_id
        pi.amount_capturable = attempt.amount
        set_status(uow, ctx, pi, Trigger.AUTHORIZED, cause, attempt.id)
        intent_event(uow, ctx, "payment_intent.amount_capturable_updated", pi)
        if attempt.capture:
            # The gateway only authorized although we asked for capture: capture now.
            return capture.begin_capture(deps, uow, ctx, pi.id, CapturePaymentIntentParams())
        return Step(intent=pi)
    # VOIDED / REFUNDED make no sense for an authorization: keep it for a human.
    attempt.status = "unknown"
    attempt.error_code = f"unexpected_status:{status.value}"
    return Step(intent=pi)


def _technical_failure(
    uow: UnitOfWork, attempt: PaymentAttempt, pi: PaymentIntent, outcome: GatewayOutcome
) -> Step:
    """A capture's or void's technical error: unknown stays open for recovery, anything else
    means the operation did not happen."""
    assert outcome.error is not None
    if isinstance(outcome.error, UnknownOutcomeError):
        attempt.status = "unknown"
        return Step(intent=pi, error=technical_error(attempt, outcome.error, pi))
    err = technical_error(attempt, outcome.error, pi)
    close(uow, attempt, "failed")
    pi.pending_operation = None
    if attempt.kind == OperationKind.VOID.value:
        pi.cancellation_reason = None
    err.payment_intent = render_intent(None, pi)
    return Step(intent=pi, error=err)


def _answer(
    uow: UnitOfWork, attempt: PaymentAttempt, pi: PaymentIntent, outcome: GatewayOutcome
) -> OperationResult | Step:
    """A capture's or void's answer to act on, or the step that ends here: a technical
    failure, or a pending answer (the attempt stays ``unknown`` for recovery)."""
    result = outcome.result
    if outcome.error is not None or result is None:
        return _technical_failure(uow, attempt, pi, outcome)
    attempt.gateway_status = result.status.value
    if result.status == OperationStatus.PENDING:
        attempt.status = "unknown"
        return Step(intent=pi)
    return result


def _finish_capture(
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    outcome: GatewayOutcome,
    cause: str,
) -> Step:
    result = _answer(uow, attempt, pi, outcome)
    if isinstance(result, Step):
        return result
    if result.status == OperationStatus.CAPTURED:
        close(uow, attempt, "succeeded")
        pi.pending_operation = None
        pi.amount_received = result.amount if result.amount is not None else attempt.amount
        pi.amount_capturable = 0
        set_status(uow, ctx, pi, Trigger.CAPTURE, cause, attempt.id)
        intent_event(uow, ctx, "payment_intent.succeeded", pi, authorized_first=True)
        return Step(intent=pi)
    # Declined, not found or anything else: the capture did not happen.
    close(uow, attempt, "failed")
    attempt.decline_code = result.decline_code
    pi.pending_operation = None
    return Step(
        intent=pi,
        error=CardError(
            result.message or "The capture was declined by the gateway.",
            code="card_declined",
            decline_code=result.decline_code,
            payment_intent=render_intent(None, pi),
        ),
    )


def _finish_void(
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    outcome: GatewayOutcome,
    cause: str,
) -> Step:
    result = _answer(uow, attempt, pi, outcome)
    if isinstance(result, Step):
        return result
    if result.status == OperationStatus.VOIDED:
        close(uow, attempt, "succeeded")
        if Status(pi.status) == Status.REQUIRES_ACTION:
            abandon_action(uow, pi)
        set_status(uow, ctx, pi, Trigger.CANCEL, cause, attempt.id)
        capture.mark_canceled(uow, ctx, pi, pi.cancellation_reason)
        return Step(intent=pi)
    close(uow, attempt, "failed")
    pi.pending_operation = None
    pi.cancellation_reason = None
    return Step(
        intent=pi,
        error=GatewayError(
            result.message or "The gateway refused to release the authorization.",
            code="gateway_error",
            payment_intent=render_intent(None, pi),
        ),
    )


def _finish_refund(
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    refund: Refund,
    outcome: GatewayOutcome,
    cause: str,
) -> Step:
    result = outcome.result
    if outcome.error is not None or result is None:
        assert outcome.error is not None
        if isinstance(outcome.error, UnknownOutcomeError):
            attempt.status = "unknown"
            return Step(intent=pi, refund=refund)  # refund stays pending
        err = technical_error(attempt, outcome.error, pi)
        _fail_refund(uow, ctx, attempt, pi, refund, "gateway_error")
        return Step(intent=pi, refund=refund, error=err)
    attempt.gateway_status = result.status.value
    if result.status == OperationStatus.PENDING:
        attempt.status = "unknown"
        return Step(intent=pi, refund=refund)
    if result.status == OperationStatus.REFUNDED:
        close(uow, attempt, "succeeded")
        before = render_refund(None, refund, livemode=ctx.livemode)
        refund.status = "succeeded"
        refund.updated = uow.clock.now()
        pi.amount_refund_pending -= refund.amount
        pi.amount_refunded += refund.amount
        pi.updated = uow.clock.now()
        after = render_refund(None, refund, livemode=ctx.livemode)
        raise_event(
            uow, ctx, "refund.updated", "refund", refund.id, after, previous=diff(before, after)
        )
        raise_event(
            uow,
            ctx,
            "charge.refunded",
            "payment_intent",
            pi.id,
            render_intent(None, pi),
            previous={"amount_refunded": pi.amount_refunded - refund.amount},
        )
        return Step(intent=pi, refund=refund)
    _fail_refund(uow, ctx, attempt, pi, refund, result.decline_code or "declined")
    return Step(intent=pi, refund=refund)


def _fail_refund(
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    refund: Refund,
    reason: str,
) -> None:
    close(uow, attempt, "failed")
    refund.status = "failed"
    refund.failure_reason = reason[:64]
    refund.updated = uow.clock.now()
    pi.amount_refund_pending -= refund.amount
    pi.updated = uow.clock.now()
    raise_event(
        uow,
        ctx,
        "refund.failed",
        "refund",
        refund.id,
        render_refund(None, refund, livemode=ctx.livemode),
    )
