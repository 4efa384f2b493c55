"""All bank-data queries. Every merchant-owned read filters by ``merchant_id``; the only
cross-merchant reads are system work (a provider webhook names an item, not a merchant;
the poller and the webhook worker pick due rows)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from strongbox.banking.models import (
    BankAccountRow,
    BankItem,
    BankSession,
    BankTransactionRow,
    BankWebhookEvent,
)
from strongbox.db.pagination import Page, PageRequest, paginate


def get_session(
    s: Session, merchant_id: str, session_id: str, *, lock: bool = False
) -> BankSession | None:
    q = select(BankSession).where(
        BankSession.merchant_id == merchant_id, BankSession.id == session_id
    )
    return s.scalar(q.with_for_update() if lock else q)


def get_account(s: Session, merchant_id: str, account_id: str) -> BankAccountRow | None:
    return s.scalar(
        select(BankAccountRow).where(
            BankAccountRow.merchant_id == merchant_id, BankAccountRow.id == account_id
        )
    )


def accounts_of_session(s: Session, merchant_id: str, session_id: str) -> list[BankAccountRow]:
    return list(
        s.scalars(
            select(BankAccountRow)
            .where(
                BankAccountRow.merchant_id == merchant_id,
                BankAccountRow.session_id == session_id,
            )
            .order_by(BankAccountRow.seq)
        )
    )


def accounts_of_item(s: Session, merchant_id: str, item_id: str) -> list[BankAccountRow]:
    return list(
        s.scalars(
            select(BankAccountRow)
            .where(BankAccountRow.merchant_id == merchant_id, BankAccountRow.item_id == item_id)
            .order_by(BankAccountRow.seq)
        )
    )


def get_item(s: Session, merchant_id: str, item_id: str, *, lock: bool = False) -> BankItem | None:
    """``lock``: the row is held until commit (PostgreSQL ``FOR UPDATE``; SQLite serializes
    writers anyway), so two syncs or two disconnects of one item take turns."""
    q = select(BankItem).where(BankItem.merchant_id == merchant_id, BankItem.id == item_id)
    return s.scalar(q.with_for_update() if lock else q)


def item_by_provider_id(s: Session, provider: str, provider_item_id: str) -> BankItem | None:
    """System work: the item a provider webhook names (its merchant comes from the row)."""
    return s.scalar(
        select(BankItem).where(
            BankItem.provider == provider, BankItem.provider_item_id == provider_item_id
        )
    )


def items_of_provider_user(s: Session, provider: str, provider_user_id: str) -> list[BankItem]:
    """System work: the connected items of the provider user a webhook names (Yodlee's
    DATA_UPDATES), their merchants from the rows."""
    return list(
        s.scalars(
            select(BankItem)
            .where(
                BankItem.provider == provider,
                BankItem.provider_user_id == provider_user_id,
                BankItem.access_token_sealed.is_not(None),
            )
            .order_by(BankItem.seq)
        )
    )


def transactions_by_provider_id(
    s: Session, merchant_id: str, account_ids: list[str], provider_ids: list[str]
) -> dict[tuple[str, str], BankTransactionRow]:
    if not account_ids or not provider_ids:
        return {}
    rows = s.scalars(
        select(BankTransactionRow).where(
            BankTransactionRow.merchant_id == merchant_id,
            BankTransactionRow.account_id.in_(account_ids),
            BankTransactionRow.provider_transaction_id.in_(provider_ids),
        )
    )
    return {(r.account_id, r.provider_transaction_id): r for r in rows}


def list_accounts(
    s: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    session_id: str | None,
    customer: str | None,
    account: str | None = None,
    created: dict[str, int] | None,
) -> Page[BankAccountRow]:
    conds = []
    if session_id is not None:
        conds.append(BankAccountRow.session_id == session_id)
    if customer is not None:
        conds.append(BankAccountRow.account_holder["customer"].as_string() == customer)
    if account is not None:
        conds.append(BankAccountRow.account_holder["account"].as_string() == account)
    return paginate(s, BankAccountRow, merchant_id, page, conds, created=created, noun="account")


def list_transactions(
    s: Session,
    merchant_id: str,
    account_id: str,
    page: PageRequest,
    *,
    transacted: dict[str, date] | None = None,
    updated_after: datetime | None = None,
    created: dict[str, int] | None = None,
) -> Page[BankTransactionRow]:
    """``transacted``: bounds on the transaction's day (``gte``/``lte``, inclusive);
    ``updated_after``: only rows a refresh changed after that time."""
    conds: list[Any] = [BankTransactionRow.account_id == account_id]
    for op, day in (transacted or {}).items():
        column = BankTransactionRow.transacted_on
        conds.append(column >= day if op == "gte" else column <= day)
    if updated_after is not None:
        conds.append(BankTransactionRow.updated > updated_after)
    return paginate(
        s, BankTransactionRow, merchant_id, page, conds, created=created, noun="transaction"
    )


def transaction_refresh_time(s: Session, merchant_id: str, refresh_id: str) -> datetime | None:
    """When the transaction refresh ``refresh_id`` wrote its rows (None: it changed none)."""
    return s.scalar(
        select(func.max(BankTransactionRow.updated)).where(
            BankTransactionRow.merchant_id == merchant_id,
            BankTransactionRow.transaction_refresh == refresh_id,
        )
    )


def webhook_event_exists(s: Session, provider: str, dedupe_key: str) -> bool:
    return (
        s.scalar(
            select(BankWebhookEvent.seq).where(
                BankWebhookEvent.provider == provider, BankWebhookEvent.dedupe_key == dedupe_key
            )
        )
        is not None
    )


def due_webhook_events(s: Session, now: datetime, limit: int) -> list[BankWebhookEvent]:
    """System work: pending events whose time has come, oldest first, locked for this worker
    on PostgreSQL (``SKIP LOCKED``: other workers take other rows)."""
    q = (
        select(BankWebhookEvent)
        .where(BankWebhookEvent.status == "pending", BankWebhookEvent.next_attempt_at <= now)
        .order_by(BankWebhookEvent.seq)
        .limit(limit)
    )
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(s.scalars(q))


def claim_poll(s: Session, item_seq: int, due: datetime, until: datetime) -> bool:
    """Move one item's next poll from ``due`` to ``until``; False when another worker did."""
    res = s.execute(
        update(BankItem)
        .where(BankItem.seq == item_seq, BankItem.next_poll_at == due)
        .values(next_poll_at=until)
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


def due_polls(s: Session, now: datetime, limit: int) -> list[BankItem]:
    """System work: active items whose daily fallback poll is due."""
    return list(
        s.scalars(
            select(BankItem)
            .where(BankItem.status == "active", BankItem.next_poll_at <= now)
            .order_by(BankItem.next_poll_at)
            .limit(limit)
        )
    )
