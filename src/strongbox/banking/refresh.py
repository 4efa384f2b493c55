"""Account refreshes, asynchronous as Stripe's: ``POST …/accounts/{id}/refresh`` marks the
features ``pending`` and queues the work (a ``REFRESH_REQUESTED`` row in the queue the
``bank-webhooks`` worker applies, with its back-off); the worker reads the provider and
records ``succeeded`` or ``failed``, and ``financial_connections.account.refreshed_*`` fires
either way (as Stripe's does when a refresh leaves ``pending``).

``refresh_now`` is the same work done at once, for the balance check before a debit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strongbox.banking import service, tasks
from strongbox.banking.models import BankAccountRow, BankWebhookEvent
from strongbox.banking.providers.base import LoginRequired, ProviderError
from strongbox.banking.providers.registry import Banking
from strongbox.core.errors import InvalidRequestError
from strongbox.core.ids import new_id
from strongbox.db.uow import Database, UnitOfWork
from strongbox.events.types import RequestContext, raise_event

REFRESH_CODE = "REFRESH_REQUESTED"
"""The queue row of a refresh a merchant asked for (``bank_webhook_events.webhook_code``)."""
NEEDS = {"balance": "balances", "ownership": "ownership", "transactions": "transactions"}
STATE = {
    "balance": "balance_refresh",
    "ownership": "ownership_refresh",
    "transactions": "transaction_refresh",
}
EVENT = {
    "balance": "financial_connections.account.refreshed_balance",
    "ownership": "financial_connections.account.refreshed_ownership",
    "transactions": "financial_connections.account.refreshed_transactions",
}


def check_refreshable(a: BankAccountRow, features: Sequence[str]) -> None:
    for f in features:
        if NEEDS[f] not in a.permissions:
            raise InvalidRequestError(
                f"This account was linked without the {NEEDS[f]} permission.",
                param="features",
                code="permission_missing",
            )
    if a.status != "active":
        raise InvalidRequestError(
            f"This account is {a.status}: "
            + ("link it again with a relink session." if a.status == "inactive" else "")
            + ("it can no longer be refreshed." if a.status == "disconnected" else ""),
            code="account_" + a.status,
            param="account",
        )


def request_refresh(
    uow: UnitOfWork, ctx: RequestContext, a: BankAccountRow, features: Sequence[str]
) -> None:
    """Mark ``features`` pending and queue their refresh. A feature already pending is not
    queued again: the refresh on its way answers both requests."""
    check_refreshable(a, features)
    now = uow.clock.now()
    queued = []
    for f in features:
        old = getattr(a, STATE[f]) or {}
        if old.get("status") == "pending":
            continue
        extra = {"id": new_id("transaction_refresh")} if f == "transactions" else {}
        setattr(a, STATE[f], service.refresh_state("pending", now, **extra))
        queued.append(f)
    if not queued:
        return
    a.updated = now
    item = service.require_item(uow, a.merchant_id, a.item_id)
    row = BankWebhookEvent(
        id=new_id("bank_webhook_event"),
        merchant_id=a.merchant_id,
        provider=item.provider,
        dedupe_key=f"refresh:{new_id('bank_webhook_event')}",
        item_id=item.id,
        webhook_type="STRONGBOX",
        webhook_code=REFRESH_CODE,
        payload={"account": a.id, "features": queued},
        status="pending",
        attempts=0,
        next_attempt_at=now,
        last_error=None,
        created=now,
        processed_at=None,
    )
    uow.session.add(row)
    uow.flush()
    raise_event(
        uow,
        ctx,
        "strongbox.financial_connections.account.refresh_requested",
        "financial_connections.account",
        a.id,
        {"id": a.id, "features": queued, "queued": row.id},
        merchant_id=a.merchant_id,
    )


def refresh_now(
    db: Database,
    banking: Banking,
    ctx: RequestContext,
    merchant_id: str,
    account_id: str,
    features: Sequence[str],
) -> None:
    """Read ``features`` from the provider and store them, each with its event. A login
    that stopped working is recorded (the account ``inactive``, the refresh ``failed``), not
    raised; other provider errors are raised with nothing written."""
    with db.reader() as uow:
        a = service.require_account(uow, ctx, account_id, "account")
        item = service.require_item(uow, a.merchant_id, a.item_id)
        if item.access_token_sealed is None or a.status == "disconnected":
            raise InvalidRequestError(
                "This account was disconnected: it can no longer be refreshed.",
                code="account_disconnected",
                param="account",
            )
        token = service.access_token(banking.sealer, item)
        item_id, name = item.id, item.provider
    provider = banking.provider(name)
    try:
        if "balance" in features:
            balances = provider.get_balances(token)
            with db.unit_of_work() as uow:
                item = service.require_item(uow, merchant_id, item_id, lock=True)
                service.apply_balances(uow, ctx, item, balances)
                uow.commit()
        if "ownership" in features:
            owners = provider.get_owners(token)
            with db.unit_of_work() as uow:
                item = service.require_item(uow, merchant_id, item_id, lock=True)
                service.apply_owners(uow, ctx, item, owners)
                uow.commit()
        if "transactions" in features:
            tasks.sync_item(db, banking, ctx, merchant_id, item_id)
    except LoginRequired as exc:
        with db.unit_of_work() as uow:
            item = service.require_item(uow, merchant_id, item_id, lock=True)
            service.mark_login_required(uow, ctx, item, exc.code)
            fail(uow, ctx, service.require_account(uow, ctx, account_id), features)
            uow.commit()


def fail(uow: UnitOfWork, ctx: RequestContext, a: BankAccountRow, features: Sequence[str]) -> None:
    """The refresh of ``features`` ended ``failed`` (its event fires, as Stripe's does)."""
    service.refresh_failed(uow, ctx, a, features)
    for f in features:
        service.account_event(uow, ctx, EVENT[f], a)


def apply_requested(db: Database, banking: Banking, ctx: RequestContext, ev: dict[str, Any]) -> str:
    """The worker's side of a queued refresh. A provider error worth retrying is raised
    (the queue retries it with back-off, the refresh stays ``pending``) until the last try,
    which records ``failed``; a final refusal records ``failed`` at once."""
    payload = ev["payload"]
    account_id = str(payload.get("account") or "")
    features = [f for f in payload.get("features") or [] if f in STATE]
    merchant_id = ev["merchant_id"]
    with db.reader() as uow:
        a = service.require_account(uow, ctx, account_id)
        pending = [f for f in features if (getattr(a, STATE[f]) or {}).get("status") == "pending"]
        usable = a.status == "active"
    if not pending:
        return "ignored"
    if not usable:
        _record_failure(db, ctx, account_id, pending)
        return "processed"
    try:
        refresh_now(db, banking, ctx, merchant_id, account_id, pending)
    except ProviderError as exc:
        if exc.retryable and ev["attempts"] + 1 < tasks.MAX_ATTEMPTS:
            raise
        _record_failure(db, ctx, account_id, pending)
        return "failed"
    except InvalidRequestError:  # disconnected meanwhile: the refresh cannot happen
        _record_failure(db, ctx, account_id, pending)
        return "processed"
    with db.reader() as uow:
        a = service.require_account(uow, ctx, account_id)
        left = [f for f in pending if (getattr(a, STATE[f]) or {}).get("status") == "pending"]
    if "transactions" in left:
        # Another sync of the item stored the same pages first: the data is as fresh.
        _record_success(db, ctx, account_id)
        left.remove("transactions")
    if left:  # the provider had nothing for this account (not in its answer)
        _record_failure(db, ctx, account_id, left)
    return "processed"


def _record_success(db: Database, ctx: RequestContext, account_id: str) -> None:
    with db.unit_of_work() as uow:
        a = service.require_account(uow, ctx, account_id)
        old = a.transaction_refresh or {}
        if old.get("status") == "pending":
            a.transaction_refresh = service.refresh_state(
                "succeeded", uow.clock.now(), id=old.get("id")
            )
            a.updated = uow.clock.now()
            uow.flush()
            service.account_event(uow, ctx, EVENT["transactions"], a)
        uow.commit()


def _record_failure(
    db: Database, ctx: RequestContext, account_id: str, features: Sequence[str]
) -> None:
    with db.unit_of_work() as uow:
        a = service.require_account(uow, ctx, account_id)
        still = [f for f in features if (getattr(a, STATE[f]) or {}).get("status") == "pending"]
        if still:
            fail(uow, ctx, a, still)
        uow.commit()
