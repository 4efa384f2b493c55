"""Recovery of unfinished gateway work: find attempts a crash or an unknown outcome left
open, and turn each into a status lookup (``workers/recovery.py`` runs the calls).

Only attempts whose lease ran out are taken (``payments/lease.py``): a request still waiting
for its gateway holds its attempt. When the gateway has no record of the request (NOT_FOUND)
and dedupes requests by our idempotency key (``Capability.IDEMPOTENT_REPLAY``), recovery
re-sends the very same request under the same key (``replay``): the gateway answers what it
did, or does it now, once; either way the outcome is definitive and no later request under
that key can charge again. Without such a key (Braintree), the gateway's search by our key
is the answer, and a success reported after that is reconciled (``payments/late.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from strongbox.connectors.base import (
    Capability,
    CaptureRequest,
    OperationKind,
    RefundRequest,
    StatusRequest,
    VoidRequest,
)
from strongbox.core.errors import ResourceMissingError
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments import bank_debit, store
from strongbox.payments import repository as repo
from strongbox.payments.common import gateway_call, require_intent
from strongbox.payments.confirm import authorize_request
from strongbox.payments.deps import Payments
from strongbox.payments.models import PaymentAttempt, PaymentIntent, Refund, StatusChange
from strongbox.payments.steps import GatewayCall, GatewayRequest


def find_unfinished(
    uow: UnitOfWork, *, started_before: datetime, limit: int = 50
) -> list[PaymentAttempt]:
    """Unfinished attempts older than ``started_before`` whose lease ran out: no call for
    them is in flight anywhere."""
    return store.unfinished_attempts(
        uow,
        older_than=started_before,
        statuses=("started", "unknown", "requires_action"),
        limit=limit,
        unleased_at=uow.clock.now(),
    )


def find_open_challenges(
    uow: UnitOfWork, *, polled_before: datetime, created_after: datetime, limit: int = 50
) -> list[PaymentAttempt]:
    """Recent 3DS challenges not looked up since ``polled_before``: status lookups have no
    side effects, so a challenge completed at the gateway is noticed within seconds."""
    return store.unfinished_attempts(
        uow,
        older_than=polled_before,
        statuses=("requires_action",),
        limit=limit,
        created_after=created_after,
    )


def begin_lookup(deps: Payments, uow: UnitOfWork, attempt: PaymentAttempt) -> GatewayCall:
    """A status lookup for an unfinished attempt (recovery, or after a 3DS challenge); the
    caller holds the attempt's lease while it asks."""
    now = uow.clock.now()
    attempt.updated = now  # pushes it back in the recovery queue
    attempt.lease_until = now + timedelta(seconds=deps.config.attempt_lease_seconds)
    return gateway_call(
        deps,
        uow,
        attempt,
        StatusRequest(
            kind=OperationKind(attempt.kind),
            idempotency_key=attempt.gateway_idempotency_key,
            merchant_id=attempt.merchant_id,
            gateway_reference=attempt.gateway_reference,
        ),
    )


def begin_action_lookup_by_reference(
    deps: Payments, uow: UnitOfWork, reference: str
) -> GatewayCall | None:
    """After a customer completes a challenge at the gateway: look the attempt up."""
    attempt = store.attempt_by_action_reference(uow, reference)
    if attempt is None or attempt.status != "requires_action":
        return None
    return begin_lookup(deps, uow, attempt)


def find_attempt(uow: UnitOfWork, merchant_id: str, attempt_id: str) -> PaymentAttempt:
    attempt = store.get_attempt(uow, merchant_id, attempt_id)
    if attempt is None:
        raise ResourceMissingError(f"No such attempt: '{attempt_id}'")
    return attempt


def attempts(uow: UnitOfWork, ctx: RequestContext, intent_id: str) -> list[PaymentAttempt]:
    require_intent(uow, ctx, intent_id)
    return store.attempts_for_intent(uow, ctx.merchant_id, intent_id)


def history(uow: UnitOfWork, ctx: RequestContext, intent_id: str) -> list[StatusChange]:
    require_intent(uow, ctx, intent_id)
    return repo.status_history(uow.session, ctx.merchant_id, intent_id)


def can_replay(deps: Payments, attempt: PaymentAttempt) -> bool:
    """Whether re-sending the attempt's request under its key is safe and definitive."""
    try:
        connector = deps.connectors.get(attempt.connector)
    except KeyError:
        return False
    return connector.supports(Capability.IDEMPOTENT_REPLAY)


def begin_replay(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    refund: Refund | None,
) -> GatewayCall:
    """The attempt's own request again, under its own idempotency key (see the module)."""
    now = uow.clock.now()
    attempt.updated = now
    attempt.lease_until = now + timedelta(seconds=deps.config.attempt_lease_seconds)
    pm = (
        store.get_payment_method(uow, attempt.merchant_id, pi.payment_method_id or "")
        if attempt.kind == OperationKind.AUTHORIZE.value
        else None
    )
    if pm is not None and bank_debit.is_bank(pm):
        call = bank_debit.debit_call(deps, uow, attempt, pi, pm)  # the balance check again
    else:
        request = original_request(deps, uow, ctx, attempt, pi, refund)
        call = gateway_call(deps, uow, attempt, request)
    call.replay = True
    return call


def original_request(
    deps: Payments,
    uow: UnitOfWork,
    ctx: RequestContext,
    attempt: PaymentAttempt,
    pi: PaymentIntent,
    refund: Refund | None,
) -> GatewayRequest:
    """The request an attempt stood for, rebuilt from what was recorded (an intent cannot
    change while its operation is unfinished: updates and new operations are refused)."""
    key = attempt.gateway_idempotency_key
    reference = attempt.gateway_reference or pi.gateway_reference or ""
    kind = OperationKind(attempt.kind)
    if kind == OperationKind.AUTHORIZE:
        pm = store.get_payment_method(uow, attempt.merchant_id, pi.payment_method_id or "")
        if pm is None:
            raise ResourceMissingError(f"No such PaymentMethod: '{pi.payment_method_id}'")
        if bank_debit.is_bank(pm):
            return bank_debit.debit_request(deps, uow, attempt, pi, pm)
        card = None if pm.gateway_token is not None else deps.cards.card_data(uow, ctx, pm)
        return authorize_request(attempt, pi, pm, card)
    if kind == OperationKind.CAPTURE:
        return CaptureRequest(
            idempotency_key=key,
            gateway_reference=reference,
            amount=attempt.amount,
            currency=attempt.currency,
            merchant_id=attempt.merchant_id,
        )
    if kind == OperationKind.VOID:
        return VoidRequest(
            idempotency_key=key, gateway_reference=reference, merchant_id=attempt.merchant_id
        )
    return RefundRequest(
        idempotency_key=key,
        gateway_reference=reference,
        amount=attempt.amount,
        currency=attempt.currency,
        merchant_id=attempt.merchant_id,
        reason=refund.reason if refund is not None else None,
    )
