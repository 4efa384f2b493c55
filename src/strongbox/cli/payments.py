"""``strongbox payments …``: look at a payment's gateway attempts and resolve one an operator
has checked at the gateway.

An attempt is ``unknown`` when Strongbox sent a request and never learned what the gateway did
with it. Recovery resolves it by asking the gateway; a gateway without a status lookup (Adyen)
resolves it with its webhook. When neither can (the request never reached the gateway, so no
webhook will come), an operator checks the gateway's dashboard by the attempt's
``gateway_idempotency_key`` and records the outcome here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from strongbox.cli.common import merchant_unit_of_work
from strongbox.idempotency import service as idem
from strongbox.payments import operator, recovery

app = typer.Typer(help="Payment attempts: inspect and resolve.", no_args_is_help=True)

Merchant = Annotated[str, typer.Option("--merchant", help="Merchant id (acct_…).")]


def render_attempt(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "payment_attempt",
        "payment_intent": a.payment_intent_id,
        "kind": a.kind,
        "status": a.status,
        "connector": a.connector,
        "connector_account": a.connector_account_id,
        "gateway_idempotency_key": a.gateway_idempotency_key,
        "gateway_reference": a.gateway_reference,
        "gateway_status": a.gateway_status,
        "amount": a.amount,
        "currency": a.currency,
        "capture": a.capture,
        "refund": a.refund_id,
        "decline_code": a.decline_code,
        "error_code": a.error_code,
        "lookups": a.lookups,
        "created": int(a.created.timestamp()),
        "updated": int(a.updated.timestamp()),
    }


@app.command("attempts")
def attempts(
    merchant: Merchant,
    payment_intent: Annotated[str, typer.Argument(help="PaymentIntent id (pi_…).")],
) -> None:
    """The gateway attempts of one PaymentIntent, oldest first."""

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        rows = recovery.attempts(uow, ctx, payment_intent)
        return {"object": "list", "data": [render_attempt(a) for a in rows]}

    merchant_unit_of_work(merchant, run)


@app.command("resolve")
def resolve(
    merchant: Merchant,
    attempt: Annotated[str, typer.Argument(help="Attempt id (pa_…).")],
    outcome: Annotated[
        str,
        typer.Option(
            "--outcome",
            help="What the gateway shows: authorized, captured, declined, voided, refunded, "
            "or not_processed (the gateway never received the request).",
        ),
    ],
    note: Annotated[str, typer.Option("--note", help="What was checked, for the audit log.")],
    gateway_reference: Annotated[
        str | None,
        typer.Option("--gateway-reference", help="The gateway's id (e.g. Adyen pspReference)."),
    ] = None,
    decline_code: Annotated[
        str | None, typer.Option("--decline-code", help="Stripe decline code, if declined.")
    ] = None,
) -> None:
    """Record the outcome of an unresolved attempt, as found at the gateway: an ``unknown``
    one, or a ``started`` one older than the recovery age (STRONGBOX_RECOVERY_AFTER_SECONDS)."""

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        recovery_age = timedelta(seconds=rt.settings.recovery_after_seconds)
        step = operator.resolve(
            rt.payments,
            uow,
            ctx,
            attempt,
            outcome,
            note=note,
            gateway_reference=gateway_reference,
            decline_code=decline_code,
            started_before=uow.clock.now() - recovery_age,
        )
        resolved = step.extra["attempt"]
        key_id = resolved.request_idempotency_key_id
        if key_id and resolved.status not in ("started", "unknown"):
            # As recovery does: a request that died before its answer was stored gets it now,
            # so a retry with its Idempotency-Key replays the outcome instead of a 409.
            idem.store_response_if_absent(uow, key_id, *step.response())
        intent = step.intent
        return {
            "attempt": render_attempt(resolved),
            "payment_intent": {"id": intent.id, "status": intent.status} if intent else None,
        }

    merchant_unit_of_work(merchant, run)
