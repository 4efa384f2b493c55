"""Financial Connections rules: sessions, linked accounts, balances, ownership, transactions.

The functions here are the phases of a use case and take the caller's unit of work; they
never commit and never call a provider. A use case that needs a provider (``api/routers/
financial_connections.py`` for requests, ``banking/tasks.py`` for webhooks and polls) reads
what it needs in one transaction, calls the provider outside any transaction, and writes the
result with its events (audit leaf, outbox) in a second one: all of it or none of it.

Access tokens and ACH numbers are sealed by the vault's ``Sealer``, bound to merchant and row
(AAD), and unsealed only into a ``Secret`` for one provider call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from strongbox.banking import repository as repo
from strongbox.banking.models import BankAccountRow, BankItem, BankSession
from strongbox.banking.providers.base import (
    AccountNumbers,
    BankAccount,
    Exchanged,
    LinkToken,
    Owner,
)
from strongbox.banking.schemas import CreateSessionParams, render_account
from strongbox.core.errors import CardError, InvalidRequestError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.core.sealing import Sealer
from strongbox.core.secret import Secret
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

POLL_INTERVAL = timedelta(days=1)
"""The fallback poll of an item that webhooks keep up to date: once a day."""


# ---------------------------------------------------------------- sealing


def aad(merchant_id: str, row_id: str, purpose: str) -> bytes:
    """What a sealed value of this row is bound to."""
    return f"strongbox-bank|{merchant_id}|{row_id}|{purpose}".encode()


def seal_token(sealer: Sealer, item: BankItem, token: Secret[str]) -> None:
    item.access_token_sealed = sealer.seal(
        token.reveal().encode(), aad(item.merchant_id, item.id, "access_token")
    )


def access_token(sealer: Sealer, item: BankItem) -> Secret[str]:
    if item.access_token_sealed is None:
        raise InvalidRequestError(
            "This account was disconnected; its bank login is gone.",
            code="account_disconnected",
        )
    raw = sealer.unseal(item.access_token_sealed, aad(item.merchant_id, item.id, "access_token"))
    return Secret(raw.decode())


def _seal_numbers(sealer: Sealer, a: BankAccountRow, n: AccountNumbers) -> None:
    plain = json.dumps({"account": n.account.reveal(), "routing": n.routing.reveal()}).encode()
    a.numbers_sealed = sealer.seal(plain, aad(a.merchant_id, a.id, "ach_numbers"))
    a.account_last4 = n.account.reveal()[-4:]
    a.routing_number = n.routing.reveal()[:9]


# ---------------------------------------------------------------- sessions


def require_session(
    uow: UnitOfWork, ctx: RequestContext, session_id: str, *, lock: bool = False
) -> BankSession:
    s = repo.get_session(uow.session, ctx.merchant_id, session_id, lock=lock)
    if s is None:
        raise ResourceMissingError(
            f"No such financial_connections.session: '{session_id}'", param="session"
        )
    return s


def require_account(
    uow: UnitOfWork, ctx: RequestContext, account_id: str, param: str = "account"
) -> BankAccountRow:
    a = repo.get_account(uow.session, ctx.merchant_id, account_id)
    if a is None:
        raise ResourceMissingError(
            f"No such financial_connections.account: '{account_id}'", param=param
        )
    return a


def require_item(
    uow: UnitOfWork, merchant_id: str, item_id: str, *, lock: bool = False
) -> BankItem:
    """The item; ``lock`` holds its row for this write transaction (writes to an item and its
    accounts and transactions take turns)."""
    item = repo.get_item(uow.session, merchant_id, item_id, lock=lock)
    if item is None:  # an account always has its item: a broken invariant, not bad input
        raise LookupError(f"bank item {item_id} is missing")
    return item


def client_user_id(account_holder: dict[str, Any], merchant_id: str) -> str:
    """The end user a provider knows the link by: the customer, else the merchant itself."""
    return str(account_holder.get("customer") or account_holder.get("account") or merchant_id)


def create_session(
    uow: UnitOfWork,
    ctx: RequestContext,
    p: CreateSessionParams,
    link: LinkToken,
    relink: tuple[str, str] | None,
) -> BankSession:
    """``relink``: the id and provider of the item an update-mode session repairs."""
    now = uow.clock.now()
    holder: dict[str, Any] = {"type": p.account_holder.type}
    if p.account_holder.customer:
        holder["customer"] = p.account_holder.customer
    if p.account_holder.account:
        holder["account"] = p.account_holder.account
    sid = new_id("financial_connections_session")
    s = BankSession(
        id=sid,
        merchant_id=ctx.merchant_id,
        provider=relink[1] if relink else p.provider,
        status="pending",
        client_secret=f"{sid}_secret_{secrets.token_urlsafe(18)}",
        link_token=link.token,
        link_token_expires_at=link.expires_at,
        account_holder=holder,
        permissions=sorted(set(p.permissions)),
        prefetch=sorted(set(p.prefetch or [])),
        return_url=p.return_url,
        relink_item_id=relink[0] if relink else None,
        item_id=relink[0] if relink else None,
        completed_with=None,
        created=now,
        updated=now,
    )
    uow.session.add(s)
    uow.flush()
    raise_event(
        uow,
        ctx,
        "strongbox.financial_connections.session.created",
        "financial_connections.session",
        s.id,
        {"id": s.id, "provider": s.provider, "permissions": s.permissions},
    )
    return s


def public_token_digest(token: Secret[str]) -> str:
    return hashlib.sha256(token.reveal().encode()).hexdigest()


def completed_by(s: BankSession, token: Secret[str]) -> bool:
    """Whether ``token`` is the public token that completed ``s`` (a retried complete)."""
    return (
        s.status == "succeeded"
        and s.completed_with is not None
        and hmac.compare_digest(s.completed_with, public_token_digest(token))
    )


def check_pending(s: BankSession) -> None:
    if s.status != "pending":
        raise InvalidRequestError(
            f"This session is {s.status}; a session links accounts once.",
            code="session_already_completed",
            param="session",
        )


def record_link(
    uow: UnitOfWork,
    ctx: RequestContext,
    sealer: Sealer,
    s: BankSession,
    exchanged: Exchanged,
    public_token: Secret[str],
    institution: str,
    accounts: list[BankAccount],
    numbers: list[AccountNumbers],
    owners: list[Owner],
) -> list[BankAccountRow]:
    """A completed link: the item with its sealed access token, one ``fca_`` per account,
    ``financial_connections.account.created`` for each."""
    check_pending(s)
    now = uow.clock.now()
    item = BankItem(
        id=new_id("bank_item"),
        merchant_id=s.merchant_id,
        provider=s.provider,
        provider_item_id=exchanged.item_id,
        provider_user_id=exchanged.provider_user_id,
        access_token_sealed=None,
        cursor="",
        status="active",
        error_code=None,
        next_poll_at=now + POLL_INTERVAL,
        created=now,
        updated=now,
    )
    seal_token(sealer, item, exchanged.access_token)
    uow.session.add(item)
    by_id = {n.provider_account_id: n for n in numbers}
    owned = {o.provider_account_id: o for o in owners}
    rows = []
    for acc in accounts:
        a = BankAccountRow(
            id=new_id("financial_connections_account"),
            merchant_id=s.merchant_id,
            item_id=item.id,
            session_id=s.id,
            provider_account_id=acc.provider_account_id,
            account_holder=dict(s.account_holder),
            display_name=acc.display_name[:200],
            institution_name=institution[:200],
            last4=acc.last4,
            category=acc.category,
            subcategory=acc.subcategory[:32],
            status="active",
            permissions=list(s.permissions),
            balance=None,
            balance_refresh=None,
            ownership=None,
            ownership_refresh=None,
            transaction_refresh=None,
            numbers_sealed=None,
            routing_number=None,
            account_last4=None,
            created=now,
            updated=now,
        )
        if acc.balance is not None and "balance" in s.prefetch:
            _set_balance(a, acc, now)
        if acc.provider_account_id in by_id:
            _seal_numbers(sealer, a, by_id[acc.provider_account_id])
        if acc.provider_account_id in owned:
            _set_owner(a, owned[acc.provider_account_id], now)
        uow.session.add(a)
        rows.append(a)
    s.status = "succeeded"
    s.item_id = item.id
    s.completed_with = public_token_digest(public_token)
    s.updated = now
    uow.flush()
    for a in rows:
        account_event(uow, ctx, "financial_connections.account.created", a)
    return rows


def account_event(uow: UnitOfWork, ctx: RequestContext, type_: str, a: BankAccountRow) -> None:
    raise_event(
        uow,
        ctx,
        type_,
        "financial_connections.account",
        a.id,
        render_account(a, ctx.livemode),
        merchant_id=a.merchant_id,
    )


# ---------------------------------------------------------------- balances, ownership


def _set_balance(a: BankAccountRow, acc: BankAccount, now: datetime) -> None:
    b = acc.balance
    assert b is not None
    cur = b.currency
    body: dict[str, Any] = {
        "as_of": int(b.as_of.timestamp()),
        "current": {cur: b.current} if b.current is not None else {},
        "type": "credit" if a.category == "credit" else "cash",
    }
    if a.category == "credit":
        body["credit"] = {"used": {cur: b.current} if b.current is not None else {}}
    else:
        body["cash"] = {"available": {cur: b.available} if b.available is not None else {}}
    a.balance = body
    a.balance_refresh = refresh_state("succeeded", now)


def _set_owner(a: BankAccountRow, o: Owner, now: datetime) -> None:
    owners = [
        {
            "object": "financial_connections.account_owner",
            "name": name,
            "email": o.emails[0] if o.emails else None,
            "phone": o.phones[0] if o.phones else None,
            "ownership": a.id,
        }
        for name in o.names
    ]
    a.ownership = {
        "object": "financial_connections.account_ownership",
        "created": int(now.timestamp()),
        "owners": {"object": "list", "data": owners, "has_more": False},
    }
    a.ownership_refresh = refresh_state("succeeded", now)


def refresh_state(status: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "last_attempted_at": int(now.timestamp()),
        "next_refresh_available_at": None,
        "status": status,
        **extra,
    }


def apply_balances(
    uow: UnitOfWork, ctx: RequestContext, item: BankItem, accounts: list[BankAccount]
) -> None:
    now = uow.clock.now()
    fresh = {acc.provider_account_id: acc for acc in accounts if acc.balance is not None}
    for a in repo.accounts_of_item(uow.session, item.merchant_id, item.id):
        acc = fresh.get(a.provider_account_id)
        if acc is None or a.status == "disconnected":
            continue
        _set_balance(a, acc, now)
        a.updated = now
        uow.flush()
        account_event(uow, ctx, "financial_connections.account.refreshed_balance", a)


def apply_owners(uow: UnitOfWork, ctx: RequestContext, item: BankItem, owners: list[Owner]) -> None:
    now = uow.clock.now()
    fresh = {o.provider_account_id: o for o in owners}
    for a in repo.accounts_of_item(uow.session, item.merchant_id, item.id):
        if a.provider_account_id in fresh and a.status != "disconnected":
            _set_owner(a, fresh[a.provider_account_id], now)
            a.updated = now
            uow.flush()
            account_event(uow, ctx, "financial_connections.account.refreshed_ownership", a)


def refresh_failed(
    uow: UnitOfWork, ctx: RequestContext, a: BankAccountRow, features: Sequence[str]
) -> None:
    now = uow.clock.now()
    for f in features:
        if f == "balance":
            a.balance_refresh = refresh_state("failed", now)
        elif f == "ownership":
            a.ownership_refresh = refresh_state("failed", now)
        else:
            old = a.transaction_refresh or {}
            a.transaction_refresh = refresh_state(
                "failed", now, id=old.get("id") or new_id("transaction_refresh")
            )
    a.updated = now
    uow.flush()


def funds_check(a: BankAccountRow, amount: int, currency: str) -> dict[str, Any]:
    """Whether the account's balance, just refreshed, covers a debit of ``amount``.

    The available balance counts (the current one when the bank gives no available). An
    insufficient balance is a decline (402 ``insufficient_funds``): the caller sends nothing.
    """
    if a.category != "cash":
        raise InvalidRequestError(
            "Only cash accounts (checking, savings) can be debited.", code="account_not_debitable"
        )
    body = a.balance or {}
    available = (body.get("cash") or {}).get("available") or {}
    current = body.get("current") or {}
    have = available.get(currency, current.get(currency))
    if have is None:
        raise InvalidRequestError(
            f"The account has no {currency} balance.", param="currency", code="balance_unavailable"
        )
    if have < amount:
        raise CardError(
            "The bank account's balance does not cover this amount.",
            code="insufficient_funds",
            decline_code="insufficient_funds",
        )
    return {
        "object": "financial_connections.balance_check",
        "account": a.id,
        "amount": amount,
        "currency": currency,
        "result": "sufficient",
        "balance_as_of": body.get("as_of"),
    }


# ---------------------------------------------------------------- item state


def mark_login_required(uow: UnitOfWork, ctx: RequestContext, item: BankItem, code: str) -> None:
    """The bank login stopped working: accounts become ``inactive`` until a relink session."""
    if item.status != "active":
        return
    now = uow.clock.now()
    item.status = "login_required"
    item.error_code = code[:64]
    item.updated = now
    changed = []
    for a in repo.accounts_of_item(uow.session, item.merchant_id, item.id):
        if a.status == "active":
            a.status = "inactive"
            a.updated = now
            changed.append(a)
    uow.flush()
    for a in changed:
        account_event(uow, ctx, "financial_connections.account.deactivated", a)


def mark_repaired(uow: UnitOfWork, ctx: RequestContext, item: BankItem) -> None:
    if item.status != "login_required":
        return
    now = uow.clock.now()
    item.status = "active"
    item.error_code = None
    item.next_poll_at = now + POLL_INTERVAL
    item.updated = now
    changed = []
    for a in repo.accounts_of_item(uow.session, item.merchant_id, item.id):
        if a.status == "inactive":
            a.status = "active"
            a.updated = now
            changed.append(a)
    uow.flush()
    for a in changed:
        account_event(uow, ctx, "financial_connections.account.reactivated", a)


def complete_relink(uow: UnitOfWork, ctx: RequestContext, s: BankSession) -> list[BankAccountRow]:
    check_pending(s)
    assert s.relink_item_id is not None
    item = require_item(uow, s.merchant_id, s.relink_item_id, lock=True)
    mark_repaired(uow, ctx, item)
    s.status = "succeeded"
    s.updated = uow.clock.now()
    uow.flush()
    return repo.accounts_of_item(uow.session, s.merchant_id, item.id)


def disconnect(uow: UnitOfWork, ctx: RequestContext, a: BankAccountRow) -> bool:
    """The account stops sharing data. True when it was the item's last connected account:
    the caller then removes the item at the provider and destroys its token here."""
    now = uow.clock.now()
    if a.status != "disconnected":
        a.status = "disconnected"
        a.updated = now
        uow.flush()
        account_event(uow, ctx, "financial_connections.account.disconnected", a)
    others = [
        o
        for o in repo.accounts_of_item(uow.session, a.merchant_id, a.item_id)
        if o.id != a.id and o.status != "disconnected"
    ]
    return not others


def destroy_token(uow: UnitOfWork, ctx: RequestContext, item: BankItem) -> None:
    """The access token's ciphertext is deleted; the item can never be read again."""
    if item.access_token_sealed is None:
        return
    item.access_token_sealed = None
    item.status = "disconnected"
    item.next_poll_at = None
    item.updated = uow.clock.now()
    uow.flush()
    raise_event(
        uow,
        ctx,
        "strongbox.financial_connections.item.token_destroyed",
        "bank_item",
        item.id,
        {"id": item.id, "provider": item.provider},
        merchant_id=item.merchant_id,
    )
