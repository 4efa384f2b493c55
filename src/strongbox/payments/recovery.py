"""Recovery of unfinished gateway work: find attempts a crash or an unknown outcome left
open, and turn each into a status lookup (``workers/recovery.py`` runs the calls)."""

from __future__ import annotations

from datetime import datetime

from strongbox.connectors.base import OperationKind, StatusRequest
from strongbox.core.errors import ResourceMissingError
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments import repository as repo
from strongbox.payments.common import gateway_call, require_intent
from strongbox.payments.deps import Payments
from strongbox.payments.models import PaymentAttempt, StatusChange
from strongbox.payments.steps import GatewayCall


def find_unfinished(
    uow: UnitOfWork, *, started_before: datetime, limit: int = 50
) -> list[PaymentAttempt]:
    return repo.unfinished_attempts(
        uow.session,
        older_than=started_before,
        statuses=("started", "unknown", "requires_action"),
        limit=limit,
    )


def find_open_challenges(
    uow: UnitOfWork, *, polled_before: datetime, created_after: datetime, limit: int = 50
) -> list[PaymentAttempt]:
    """Recent 3DS challenges not looked up since ``polled_before``: status lookups have no
    side effects, so a challenge completed at the gateway is noticed within seconds."""
    return repo.unfinished_attempts(
        uow.session,
        older_than=polled_before,
        statuses=("requires_action",),
        limit=limit,
        created_after=created_after,
    )


def begin_lookup(deps: Payments, uow: UnitOfWork, attempt: PaymentAttempt) -> GatewayCall:
    """A status lookup for an unfinished attempt (recovery, or after a 3DS challenge)."""
    attempt.updated = uow.clock.now()  # pushes it back in the recovery queue
    return gateway_call(
        deps,
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
    attempt = repo.attempt_by_action_reference(uow.session, reference)
    if attempt is None or attempt.status != "requires_action":
        return None
    return begin_lookup(deps, uow, attempt)


def find_attempt(uow: UnitOfWork, merchant_id: str, attempt_id: str) -> PaymentAttempt:
    attempt = repo.get_attempt(uow.session, merchant_id, attempt_id)
    if attempt is None:
        raise ResourceMissingError(f"No such attempt: '{attempt_id}'")
    return attempt


def attempts(uow: UnitOfWork, ctx: RequestContext, intent_id: str) -> list[PaymentAttempt]:
    require_intent(uow, ctx, intent_id)
    return repo.attempts_for_intent(uow.session, ctx.merchant_id, intent_id)


def history(uow: UnitOfWork, ctx: RequestContext, intent_id: str) -> list[StatusChange]:
    require_intent(uow, ctx, intent_id)
    return repo.status_history(uow.session, ctx.merchant_id, intent_id)
