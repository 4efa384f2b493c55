"""Recovery worker: resolves attempts left unfinished by a crash or an unknown outcome.

It asks the connector what became of each attempt (by the idempotency key we sent) and
records the answer, exactly like the request path would have. It never re-sends an
authorization. When the attempt belonged to an idempotent request, the final response is
stored on the key so the client's retry gets it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from strongbox.connectors.base import Capability
from strongbox.core import metrics
from strongbox.events.types import RequestContext
from strongbox.idempotency import service as idem
from strongbox.payments import gateway, outcomes
from strongbox.payments import recovery as payment_recovery
from strongbox.payments.steps import GatewayCall, Step
from strongbox.runtime import Runtime

log = logging.getLogger(__name__)


def resolve(rt: Runtime, call: GatewayCall, key_id: str | None, cause: str) -> Step:
    """Execute a lookup (or chained call) and record it, following chained steps."""
    svc = rt.payments
    ctx = RequestContext(merchant_id=call.merchant_id, actor=f"system:{cause}")
    step = Step(call=call)
    while step.call is not None:
        current = step.call
        with rt.leases.hold(current):
            outcome = gateway.execute(svc, current)
        with rt.db.unit_of_work() as uow:
            step = outcomes.finish(svc, uow, ctx, current, outcome, cause=cause)
            if key_id and step.call is None:
                attempt = payment_recovery.find_attempt(
                    uow, current.merchant_id, current.attempt_id
                )
                if attempt.status not in ("started", "unknown"):
                    # The request that began this attempt never got its answer stored.
                    status, body = step.response()
                    idem.store_response_if_absent(uow, key_id, status, body)
            uow.commit()
    return step


def recover_once(
    rt: Runtime,
    *,
    min_age: timedelta,
    limit: int = 50,
    action_poll: timedelta | None = None,
    action_window: timedelta = timedelta(hours=1),
) -> int:
    """One pass; returns how many attempts were looked up.

    Attempts older than ``min_age`` are recovered; with ``action_poll``, open 3DS challenges
    younger than ``action_window`` are also looked up once per ``action_poll``.
    """
    svc = rt.payments
    with rt.db.unit_of_work() as uow:
        now = uow.clock.now()
        attempts = payment_recovery.find_unfinished(uow, started_before=now - min_age, limit=limit)
        if action_poll is not None:
            seen = {a.id for a in attempts}
            attempts += [
                a
                for a in payment_recovery.find_open_challenges(
                    uow, polled_before=now - action_poll, created_after=now - action_window
                )
                if a.id not in seen
            ]
        calls = [
            (payment_recovery.begin_lookup(svc, uow, a), a.request_idempotency_key_id)
            for a in attempts
        ]
        uow.commit()
    for call, key_id in calls:
        if not _can_look_up(rt, call.connector):
            # No lookup API (Adyen): the attempt stays unfinished (its payment
            # ``processing``) until the gateway's webhook resolves it; begin_lookup moved it to
            # the back of the queue. Never NOT_FOUND, never a second request.
            metrics.AWAITING_WEBHOOK.labels(call.connector, call.kind.value).inc()
            log.info(
                "attempt %s (%s %s) awaits the gateway's webhook: no status lookup",
                call.attempt_id,
                call.connector,
                call.kind.value,
            )
            continue
        try:
            step = resolve(rt, call, key_id, "recovery")
        except Exception:
            log.exception("recovery of attempt %s failed; will retry", call.attempt_id)
            metrics.RECOVERED_ATTEMPTS.labels("error").inc()
            continue
        label = step.intent.status if step.intent is not None else "unknown"
        metrics.RECOVERED_ATTEMPTS.labels(label).inc()
    return len(calls)


def _can_look_up(rt: Runtime, connector: str) -> bool:
    try:
        return rt.connectors.get(connector).supports(Capability.STATUS_LOOKUP)
    except KeyError:
        return True  # let resolve() report the missing connector as before


def complete_action(rt: Runtime, reference: str) -> Step | None:
    """Called when a customer finished a gateway challenge: resolve the attempt now."""
    with rt.db.unit_of_work() as uow:
        call = payment_recovery.begin_action_lookup_by_reference(rt.payments, uow, reference)
        uow.commit()
    if call is None:
        return None
    return resolve(rt, call, None, "action_completed")
