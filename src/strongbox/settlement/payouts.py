"""Payouts: the available balance on its way to the merchant's external account.

In the ledger a payout is a pending transfer ``sb.<po>.payout`` from ``merchant_available`` to
``payouts``: it reserves the amount at once (the available account may never go below zero,
so a payout larger than the balance is refused, and two payouts cannot spend the same money).
When the payout is paid the hold is posted (``sb.<po>.paid``); when it fails or is canceled
it is voided (``sb.<po>.void``). The hold is resolved at most once (the ledger's unique
``pending_id``), so no payout pays twice.

Statuses follow Stripe: ``pending`` (cancelable) -> ``paid`` or ``failed``; ``canceled``.
Events ``payout.created``, ``payout.paid``, ``payout.failed``, ``payout.canceled`` go out
through the outbox to webhooks and the bus.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from strongbox.core.errors import (
    InvalidRequestError,
    LedgerInvariantError,
    ResourceMissingError,
)
from strongbox.core.ids import new_id
from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.ledger.models import (
    CODE_PAYOUT,
    KIND_PENDING,
    KIND_POST,
    KIND_VOID,
    MERCHANT_AVAILABLE,
    PAYOUTS,
    SYSTEM_FLAGS,
)
from strongbox.ledger.service import RESERVED_PREFIX, AccountInfo, LedgerService, TransferRequest
from strongbox.settlement.models import (
    PAYOUT_CANCELED,
    PAYOUT_FAILED,
    PAYOUT_PAID,
    PAYOUT_PENDING,
    Payout,
)
from strongbox.settlement.schemas import render_payout

#: The simulated payout rail: a destination whose id ends with this fails at the bank (as
#: Stripe's test account 000111111116 does); any other is paid on its arrival date.
FAILING_DESTINATION_SUFFIX = "_fail"


def hold_id(payout_id: str) -> str:
    return f"{RESERVED_PREFIX}{payout_id}.payout"


def paid_id(payout_id: str) -> str:
    return f"{RESERVED_PREFIX}{payout_id}.paid"


def void_id(payout_id: str) -> str:
    return f"{RESERVED_PREFIX}{payout_id}.void"


def _accounts(
    uow: UnitOfWork, ledger: LedgerService, merchant_id: str, currency: str
) -> list[AccountInfo]:
    return [
        ledger.system_account(
            uow, merchant_id, MERCHANT_AVAILABLE, currency, SYSTEM_FLAGS.get(MERCHANT_AVAILABLE, 0)
        ),
        ledger.system_account(uow, merchant_id, PAYOUTS, currency),
    ]


def available(uow: UnitOfWork, ledger: LedgerService, merchant_id: str, currency: str) -> int:
    """The available balance: posted credits less posted and pending debits."""
    acct = _accounts(uow, ledger, merchant_id, currency)[0]
    b = ledger.balances(uow.session, merchant_id, [acct.id])[acct.id]
    return int(b.credits_posted - b.debits_posted - b.debits_pending)


def create(
    uow: UnitOfWork,
    ctx: RequestContext,
    ledger: LedgerService,
    *,
    amount: int,
    currency: str,
    method: str = "standard",
    destination: str | None = None,
    description: str | None = None,
    statement_descriptor: str | None = None,
    metadata: dict[str, str] | None = None,
    automatic: bool = False,
    run_key: str | None = None,
    arrival: datetime | None = None,
) -> Payout:
    m, cur = ctx.merchant_id, currency.lower()
    now = uow.clock.now()
    pid = new_id("payout")
    accounts = _accounts(uow, ledger, m, cur)
    results = ledger.create_transfers(
        uow,
        m,
        [
            TransferRequest(
                id=hold_id(pid),
                kind=KIND_PENDING,
                debit_account_id=accounts[0].id,
                credit_account_id=accounts[1].id,
                amount=amount,
                currency=cur,
                code=CODE_PAYOUT,
                source=pid,
            )
        ],
        allow_reserved=True,
        accounts=accounts,
    )
    error = results[0].error
    if error is not None:
        if error.code == "exceeds_credits":
            raise InvalidRequestError(
                "You have insufficient funds in your Strongbox account for this payout "
                f"({cur}): the available balance is lower than {amount}.",
                code="balance_insufficient",
                param="amount",
            )
        raise LedgerInvariantError("The ledger could not hold this payout; nothing was changed.")
    if arrival is None:
        arrival = now if method == "instant" else now + timedelta(days=1)
    payout = Payout(
        id=pid,
        merchant_id=m,
        amount=amount,
        currency=cur,
        status=PAYOUT_PENDING,
        method=method,
        automatic=automatic,
        run_key=run_key or pid,
        destination=destination,
        description=description,
        statement_descriptor=statement_descriptor,
        metadata_=dict(metadata or {}),
        failure_code=None,
        failure_message=None,
        transfer_id=hold_id(pid),
        arrival_date=arrival,
        created=now,
        updated=now,
    )
    uow.session.add(payout)
    uow.flush()
    raise_event(uow, ctx, "payout.created", "payout", pid, render_payout(payout, ctx.livemode))
    return payout


def retrieve(uow: UnitOfWork, merchant_id: str, payout_id: str, *, lock: bool = False) -> Payout:
    stmt = select(Payout).where(Payout.merchant_id == merchant_id, Payout.id == payout_id)
    if lock and uow.dialect == "postgresql":
        stmt = stmt.with_for_update()
    p = uow.session.scalars(stmt).first()
    if p is None:
        raise ResourceMissingError(f"No such payout: '{payout_id}'", param="id")
    return p


def list_(
    uow: UnitOfWork,
    merchant_id: str,
    page: PageRequest,
    *,
    status: str | None = None,
    destination: str | None = None,
    created: dict[str, int] | None = None,
) -> Page[Payout]:
    conds: list[Any] = []
    if status is not None:
        conds.append(Payout.status == status)
    if destination is not None:
        conds.append(Payout.destination == destination)
    return paginate(uow.session, Payout, merchant_id, page, conds, created=created, noun="payout")


def _resolve(
    uow: UnitOfWork,
    ctx: RequestContext,
    ledger: LedgerService,
    payout: Payout,
    kind: str,
    status: str,
    *,
    failure: tuple[str, str] | None = None,
) -> Payout:
    tid = paid_id(payout.id) if kind == KIND_POST else void_id(payout.id)
    accounts = _accounts(uow, ledger, payout.merchant_id, payout.currency)
    known = ledger.find_transfers(uow.session, payout.merchant_id, [hold_id(payout.id), tid])
    results = ledger.create_transfers(
        uow,
        payout.merchant_id,
        [
            TransferRequest(
                id=tid, kind=kind, pending_id=hold_id(payout.id), code=CODE_PAYOUT, source=payout.id
            )
        ],
        allow_reserved=True,
        known=known,
        accounts=accounts,
    )
    if results[0].error is not None:
        raise LedgerInvariantError("The ledger could not resolve this payout; nothing changed.")
    before = payout.status
    payout.status = status
    payout.updated = uow.clock.now()
    if failure is not None:
        payout.failure_code, payout.failure_message = failure
    uow.flush()
    raise_event(
        uow,
        ctx,
        f"payout.{status}",
        "payout",
        payout.id,
        render_payout(payout, ctx.livemode),
        previous={"status": before},
    )
    return payout


def cancel(uow: UnitOfWork, ctx: RequestContext, ledger: LedgerService, payout_id: str) -> Payout:
    payout = retrieve(uow, ctx.merchant_id, payout_id, lock=True)
    if payout.status != PAYOUT_PENDING:
        raise InvalidRequestError(
            f"This payout is {payout.status}; only a pending payout can be canceled.",
            code="payout_not_cancelable",
            param="id",
        )
    return _resolve(uow, ctx, ledger, payout, KIND_VOID, PAYOUT_CANCELED)


def settle_due(uow: UnitOfWork, ledger: LedgerService, *, limit: int = 200) -> int:
    """Send every pending payout whose arrival date has come over the (simulated) rail:
    paid, or failed with its funds back in the available balance."""
    now = uow.clock.now()
    stmt = (
        select(Payout)
        .where(Payout.status == PAYOUT_PENDING, Payout.arrival_date <= now)
        .order_by(Payout.arrival_date, Payout.seq)
        .limit(limit)
    )
    if uow.dialect == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    due = list(uow.session.scalars(stmt))
    for payout in due:
        ctx = RequestContext(merchant_id=payout.merchant_id, actor="system:payouts")
        if (payout.destination or "").endswith(FAILING_DESTINATION_SUFFIX):
            _resolve(
                uow,
                ctx,
                ledger,
                payout,
                KIND_VOID,
                PAYOUT_FAILED,
                failure=("account_closed", "The bank account has been closed."),
            )
        else:
            _resolve(uow, ctx, ledger, payout, KIND_POST, PAYOUT_PAID)
    return len(due)
