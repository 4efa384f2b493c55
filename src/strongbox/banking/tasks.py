"""Bank-data work that calls a provider: transaction syncs (and applying their pages),
webhooks, the daily poll.

Each use case reads in one transaction, calls the provider outside any transaction, and
writes the result in a second one, which it commits (these functions are edges, like the
workers that run them). New data arrives by webhook: a verified webhook is stored once
(``receive_webhook``, deduplicated by the SHA-256 of the signed delivery), then applied by
``process_webhooks`` with exponential back-off; several ``SYNC_UPDATES_AVAILABLE`` for one
item waiting together cost one sync. The daily poll (``poll_once``) is only a fallback.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from strongbox.banking import repository as repo
from strongbox.banking import service
from strongbox.banking.models import BankItem, BankTransactionRow, BankWebhookEvent
from strongbox.banking.providers.base import (
    BankProvider,
    LoginRequired,
    Notice,
    ProviderError,
    SyncPage,
    SyncRestart,
)
from strongbox.banking.providers.registry import Banking
from strongbox.core.ids import new_id
from strongbox.core.secret import Secret
from strongbox.db.uow import Database, UnitOfWork
from strongbox.events.types import RequestContext, raise_event

log = logging.getLogger(__name__)

MAX_SYNC_PAGES = 100
MAX_SYNC_RESTARTS = 3
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=6)
SYNC_CODES = frozenset(
    {
        "SYNC_UPDATES_AVAILABLE",
        "DEFAULT_UPDATE",
        "INITIAL_UPDATE",
        "HISTORICAL_UPDATE",
        "DATA_UPDATE",  # Yodlee: a refresh of the login finished
    }
)
RELINK_CODES = frozenset({"ITEM_LOGIN_REQUIRED", "PENDING_EXPIRATION"})


def _system(merchant_id: str, actor: str) -> RequestContext:
    return RequestContext(merchant_id=merchant_id, actor=actor)


def sync_item(
    db: Database, banking: Banking, ctx: RequestContext, merchant_id: str, item_id: str
) -> int:
    """Fetch every page since the item's cursor, then apply them in one transaction.

    Returns the number of transactions changed. ``LoginRequired`` moves the item's accounts
    to ``inactive`` (committed) and is raised again; other provider errors are raised as they
    are, with nothing written.
    """
    with db.reader() as uow:
        item = service.require_item(uow, merchant_id, item_id)
        if item.access_token_sealed is None:  # disconnected: nothing to read any more
            return 0
        token = service.access_token(banking.sealer, item)
        provider = banking.provider(item.provider)
        start = item.cursor
    try:
        pages = _fetch_pages(provider, token, start)
    except LoginRequired as exc:
        with db.unit_of_work() as uow:
            service.mark_login_required(
                uow, ctx, service.require_item(uow, merchant_id, item_id, lock=True), exc.code
            )
            uow.commit()
        raise
    with db.unit_of_work() as uow:
        item = service.require_item(uow, merchant_id, item_id, lock=True)
        n = apply_sync(uow, ctx, item, pages, start)
        uow.commit()
    return n


def _fetch_pages(provider: BankProvider, token: Secret[str], start: str) -> list[SyncPage]:
    """Every page from ``start`` (at most ``MAX_SYNC_PAGES``; the next sync goes on from the
    last cursor). Data that changes under the pagination restarts it from ``start``, as
    Plaid asks, ``MAX_SYNC_RESTARTS`` times at most."""
    for attempt in range(MAX_SYNC_RESTARTS + 1):
        pages: list[SyncPage] = []
        cursor = start
        try:
            for _ in range(MAX_SYNC_PAGES):
                page = provider.sync_transactions(token, cursor)
                pages.append(page)
                cursor = page.next_cursor
                if not page.has_more:
                    break
        except SyncRestart:
            if attempt == MAX_SYNC_RESTARTS:
                raise
            continue
        return pages
    raise AssertionError("unreachable")  # pragma: no cover


def apply_sync(
    uow: UnitOfWork, ctx: RequestContext, item: BankItem, pages: list[SyncPage], start_cursor: str
) -> int:
    """Apply the pages of one sync (fetched from ``start_cursor``) and store the final cursor.

    A provider transaction keeps its ``fctxn_`` id forever: added twice or modified, it is
    updated in place; removed, it becomes ``void``. Returns how many rows changed. When the
    item's cursor moved on since the pages were fetched (another sync won the race), nothing
    is applied: that sync already stored the same changes.
    """
    if item.cursor != start_cursor or not pages:
        return 0
    now = uow.clock.now()
    accounts = {
        a.provider_account_id: a
        for a in repo.accounts_of_item(uow.session, item.merchant_id, item.id)
        if a.status != "disconnected" and "transactions" in a.permissions
    }
    refresh_id = new_id("transaction_refresh")
    # A refresh the merchant asked for keeps the id it answered with (``pending``).
    rids = {
        a.id: str((a.transaction_refresh or {}).get("id") or refresh_id)
        if (a.transaction_refresh or {}).get("status") == "pending"
        else refresh_id
        for a in accounts.values()
    }
    upserts = [t for p in pages for t in (*p.added, *p.modified)]
    removed = [r for p in pages for r in p.removed]
    ids = [a.id for a in accounts.values()]
    existing = repo.transactions_by_provider_id(
        uow.session,
        item.merchant_id,
        ids,
        [t.provider_transaction_id for t in upserts] + removed,
    )
    by_provider = {pid: row for (_, pid), row in existing.items()}
    changed = 0
    for t in upserts:
        acct = accounts.get(t.provider_account_id)
        if acct is None:
            continue
        row = existing.get((acct.id, t.provider_transaction_id))
        if row is None:
            row = BankTransactionRow(
                id=new_id("financial_connections_transaction"),
                merchant_id=item.merchant_id,
                account_id=acct.id,
                provider_transaction_id=t.provider_transaction_id,
                created=now,
                posted_at=None,
                void_at=None,
            )
            uow.session.add(row)
            existing[(acct.id, t.provider_transaction_id)] = row
            by_provider[t.provider_transaction_id] = row
        row.amount = t.amount
        row.currency = t.currency
        row.description = t.description
        if t.status == "posted" and row.status != "posted":
            row.posted_at = now
        row.status = t.status
        row.transacted_on = t.transacted_on
        row.transaction_refresh = rids[acct.id]
        row.updated = now
        changed += 1
    for pid in removed:
        gone = by_provider.get(pid)
        if gone is not None and gone.status != "void":
            gone.status = "void"
            gone.void_at = now
            gone.transaction_refresh = rids.get(gone.account_id, refresh_id)
            gone.updated = now
            changed += 1
    item.cursor = pages[-1].next_cursor
    item.next_poll_at = now + service.POLL_INTERVAL
    item.updated = now
    for a in accounts.values():
        a.transaction_refresh = service.refresh_state("succeeded", now, id=rids[a.id])
        a.updated = now
    uow.flush()
    for a in accounts.values():
        service.account_event(uow, ctx, "financial_connections.account.refreshed_transactions", a)
    return changed


# ---------------------------------------------------------------- webhooks


def receive_webhook(db: Database, provider: str, dedupe_key: str, notices: list[Notice]) -> int:
    """Store a verified (or, for Yodlee, authenticated) webhook's notices once each.

    ``dedupe_key`` names the delivery (for Plaid the SHA-256 of the signed delivery, so a
    delivery sent again is stored once while a later notice with the same body, Plaid's
    carry no event id, is a new one). Notices about items we do not hold are kept as
    ``ignored``. Returns how many notices were stored now (0 for a duplicate delivery).
    Notices for one item waiting together are applied by one sync.
    """
    stored = 0
    with db.unit_of_work() as uow:
        now = uow.clock.now()
        targets: list[tuple[str, Notice, BankItem | None]] = []
        for i, notice in enumerate(notices):
            key = f"{dedupe_key}:{i}" if i else dedupe_key
            if notice.provider_user_id and not notice.provider_item_id:
                # A notice about a user (Yodlee's DATA_UPDATES): one event per item of theirs.
                mine = repo.items_of_provider_user(uow.session, provider, notice.provider_user_id)
                targets += [(f"{key}:{it.id}", notice, it) for it in mine] or [(key, notice, None)]
            else:
                item = repo.item_by_provider_id(uow.session, provider, notice.provider_item_id)
                targets.append((key, notice, item))
        for key, notice, item in targets:
            if repo.webhook_event_exists(uow.session, provider, key):
                continue
            ev = BankWebhookEvent(
                id=new_id("bank_webhook_event"),
                merchant_id=item.merchant_id if item else None,
                provider=provider,
                dedupe_key=key,
                item_id=item.id if item else None,
                webhook_type=notice.type[:64],
                webhook_code=notice.code[:64],
                payload=notice.payload,
                status="pending" if item else "ignored",
                attempts=0,
                next_attempt_at=now if item else None,
                last_error=None if item else "unknown item",
                created=now,
                processed_at=None,
            )
            uow.session.add(ev)
            uow.flush()
            stored += 1
            if item is not None:
                raise_event(
                    uow,
                    _system(item.merchant_id, f"provider:{provider}"),
                    "strongbox.financial_connections.webhook.received",
                    "bank_webhook_event",
                    ev.id,
                    {"id": ev.id, "type": ev.webhook_type, "code": ev.webhook_code},
                )
        uow.commit()
    return stored


def _backoff(attempts: int) -> timedelta:
    factor: int = 2 ** max(attempts - 1, 0)
    return min(BACKOFF_BASE * factor, BACKOFF_MAX)


def _finish(
    db: Database, event_ids: list[str], status: str, error: str | None, retry: bool
) -> None:
    """Record the outcome of one application on its event and on the same-item notices that
    were claimed with it (stored before the sync began, so the sync covered them)."""
    with db.unit_of_work() as uow:
        now = uow.clock.now()
        for ev in uow.session.scalars(
            select(BankWebhookEvent).where(BankWebhookEvent.id.in_(event_ids))
        ):
            ev.attempts += 1
            ev.last_error = error[:200] if error else None
            if retry and ev.attempts < MAX_ATTEMPTS:
                ev.status = "pending"
                ev.next_attempt_at = now + _backoff(ev.attempts)
            else:
                ev.status = "failed" if retry else status
                ev.next_attempt_at = None
                ev.processed_at = now
        uow.commit()


def _apply(db: Database, banking: Banking, ev: dict[str, Any]) -> str:
    merchant_id, item_id = ev["merchant_id"], ev["item_id"]
    ctx = _system(merchant_id, f"provider:{ev['provider']}")
    code = ev["code"]
    payload = ev["payload"]
    if code in SYNC_CODES:
        sync_item(db, banking, ctx, merchant_id, item_id)
        return "processed"
    if code == "REFRESH_REQUESTED":  # a merchant's refresh (banking/refresh.py)
        from strongbox.banking import refresh

        return refresh.apply_requested(db, banking, ctx, ev)
    error = payload.get("error") or {}
    error_code = str(error.get("error_code") or "") if isinstance(error, dict) else ""
    if (code == "ERROR" and error_code in RELINK_CODES) or code == "PENDING_EXPIRATION":
        with db.unit_of_work() as uow:
            item = service.require_item(uow, merchant_id, item_id, lock=True)
            service.mark_login_required(uow, ctx, item, error_code or code)
            uow.commit()
        return "processed"
    if code == "LOGIN_REPAIRED":
        with db.unit_of_work() as uow:
            service.mark_repaired(
                uow, ctx, service.require_item(uow, merchant_id, item_id, lock=True)
            )
            uow.commit()
        return "processed"
    return "ignored"


def process_webhooks(db: Database, banking: Banking, limit: int = 50) -> int:
    """Apply due webhook events; returns how many were handled this pass."""
    with db.unit_of_work() as uow:
        now = uow.clock.now()
        due = repo.due_webhook_events(uow.session, now, limit)
        claimed: list[dict[str, Any]] = []
        syncing: dict[str, dict[str, Any]] = {}  # item id -> the sync claimed for it
        for row in due:
            # Claimed for a while: another worker skips it until then (a crash retries it).
            row.next_attempt_at = now + _backoff(row.attempts + 1)
            first = syncing.get(row.item_id or "") if row.webhook_code in SYNC_CODES else None
            if first is not None:  # one sync covers every notice for the item claimed now
                first["ids"].append(row.id)
                continue
            claimed.append(
                {
                    "id": row.id,
                    "merchant_id": row.merchant_id,
                    "item_id": row.item_id,
                    "provider": row.provider,
                    "code": row.webhook_code,
                    "payload": dict(row.payload),
                    "attempts": row.attempts,
                    "ids": [row.id],
                }
            )
            if row.webhook_code in SYNC_CODES and row.item_id:
                syncing[row.item_id] = claimed[-1]
        uow.commit()
    for ev in claimed:
        try:
            status = _apply(db, banking, ev)
        except LoginRequired:
            _finish(db, ev["ids"], "processed", "login required", retry=False)
        except ProviderError as exc:
            _finish(db, ev["ids"], "failed", exc.code, retry=exc.retryable)
        except Exception:
            # A bug, not the provider: counted and retried with back-off like a provider
            # failure, so that one event cannot hold the others up, then left ``failed``.
            log.exception("applying bank webhook event %s failed", ev["ids"][0])
            _finish(db, ev["ids"], "failed", "internal_error", retry=True)
        else:
            _finish(db, ev["ids"], status, None, retry=False)
    return sum(len(ev["ids"]) for ev in claimed)


def poll_once(db: Database, banking: Banking, limit: int = 20) -> int:
    """The daily fallback: sync items whose webhooks have not led to a sync for a day."""
    with db.unit_of_work() as uow:
        now = uow.clock.now()
        items: list[tuple[str, str]] = []
        for item in repo.due_polls(uow.session, now, limit):
            assert item.next_poll_at is not None
            if repo.claim_poll(
                uow.session, item.seq, item.next_poll_at, now + service.POLL_INTERVAL
            ):
                items.append((item.merchant_id, item.id))
        uow.commit()
    for merchant_id, item_id in items:
        try:
            sync_item(db, banking, _system(merchant_id, "system:bank-poll"), merchant_id, item_id)
        except ProviderError as exc:
            log.warning("bank poll of %s failed: %s", item_id, exc.code)
    return len(items)
