"""Stripe's ``/v1/balance`` and ``/v1/balance_transactions``, derived from the ledger.

The balance is the merchant's accounts' balances: ``pending`` from ``merchant_pending``
(captured, not settled), ``available`` from ``merchant_available``; both are posted credits
minus posted and pending debits, so a refund in flight already counts against them.

A balance transaction is a posted transfer into or out of one of those two accounts, except
fee transfers: a capture's fee is shown on its ``charge`` transaction as ``fee`` and
``fee_details``, as Stripe does. Its id is the transfer's ``txn_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from strongbox.core.clock import to_unix
from strongbox.core.errors import ResourceMissingError
from strongbox.db.pagination import Page, PageRequest
from strongbox.ledger import repository as repo
from strongbox.ledger.handlers import CODE_CHARGE, CODE_FEE, CODE_REFUND
from strongbox.ledger.models import CODE_PAYOUT, MERCHANT_AVAILABLE, MERCHANT_PENDING
from strongbox.ledger.service import LedgerService, Transfer


@dataclass(frozen=True, slots=True)
class BalanceTxn:
    transfer: Transfer
    amount: int  # signed, from the merchant's side
    status: str  # pending | available
    fee: int


def balance(session: Session, ledger: LedgerService, merchant_id: str) -> dict[str, Any]:
    accts = repo.balance_accounts(session, merchant_id)
    sums = ledger.balances(session, merchant_id, [a.id for a in accts])
    available: dict[str, int] = {}
    pending: dict[str, int] = {}
    for a in accts:
        b = sums[a.id]
        amount = b.credits_posted - b.debits_posted - b.debits_pending
        target = available if a.purpose == MERCHANT_AVAILABLE else pending
        target[a.currency] = target.get(a.currency, 0) + amount
    currencies = sorted(set(available) | set(pending))

    def entries(values: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {"amount": values.get(c, 0), "currency": c, "source_types": {"card": values.get(c, 0)}}
            for c in currencies
        ]

    return {
        "object": "balance",
        "available": entries(available),
        "pending": entries(pending),
        "livemode": False,
    }


def _merchant_accounts(session: Session, merchant_id: str) -> dict[str, str]:
    return repo.balance_account_purposes(session, merchant_id)


def _to_txns(
    session: Session, merchant_id: str, accounts: dict[str, str], rows: list[Transfer]
) -> list[BalanceTxn]:
    charge_sources = [t.source for t in rows if t.code == CODE_CHARGE and t.source]
    fees = repo.fee_sums(session, merchant_id, CODE_FEE, charge_sources) if charge_sources else {}
    out = []
    for t in rows:
        if t.credit_account_id in accounts:
            amount, purpose = t.amount, accounts[t.credit_account_id]
        else:
            amount, purpose = -t.amount, accounts[t.debit_account_id]
        out.append(
            BalanceTxn(
                transfer=t,
                amount=amount,
                status="pending" if purpose == MERCHANT_PENDING else "available",
                fee=fees.get(t.source or "", 0) if t.code == CODE_CHARGE else 0,
            )
        )
    return out


def list_balance_transactions(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    type_: str | None = None,
    source: str | None = None,
    transfer_ids: list[str] | None = None,
) -> Page[BalanceTxn]:
    accounts = _merchant_accounts(session, merchant_id)
    if not accounts:
        if page.starting_after or page.ending_before:
            cursor = page.starting_after or page.ending_before
            param = "starting_after" if page.starting_after else "ending_before"
            raise ResourceMissingError(f"No such balance transaction: '{cursor}'", param=param)
        return Page(data=[], has_more=False)
    code: str | None = None
    not_codes: list[str] | None = None
    if type_ is not None:
        code = {"charge": CODE_CHARGE, "refund": CODE_REFUND, "payout": CODE_PAYOUT}.get(type_)
        if code is None:  # adjustment: anything the posting rules did not write
            not_codes = [CODE_CHARGE, CODE_REFUND, CODE_PAYOUT]
    got = repo.balance_transfers(
        session,
        merchant_id,
        list(accounts),
        page,
        fee_code=CODE_FEE,
        code=code,
        not_codes=not_codes,
        source=source,
        transfer_ids=transfer_ids,
    )
    rows = [Transfer.from_model(m) for m in got.data]
    return Page(data=_to_txns(session, merchant_id, accounts, rows), has_more=got.has_more)


def retrieve_balance_transaction(session: Session, merchant_id: str, txn_id: str) -> BalanceTxn:
    accounts = _merchant_accounts(session, merchant_id)
    row = None
    if accounts:
        row = repo.balance_transfer_row(session, merchant_id, list(accounts), CODE_FEE, txn_id)
    if row is None:
        raise ResourceMissingError(f"No such balance transaction: '{txn_id}'", param="id")
    return _to_txns(session, merchant_id, accounts, [Transfer.from_row(row)])[0]


def _type_of(t: Transfer) -> str:
    if t.code == CODE_CHARGE:
        return "charge"
    if t.code == CODE_REFUND:
        return "refund"
    if t.code == CODE_PAYOUT:
        return "payout"
    return "adjustment"


def render_balance_transaction(b: BalanceTxn) -> dict[str, Any]:
    t = b.transfer
    kind = _type_of(t)
    created = to_unix(t.created)
    return {
        "id": t.txn_id,
        "object": "balance_transaction",
        "amount": b.amount,
        "available_on": created,
        "created": created,
        "currency": t.currency,
        "description": t.metadata.get("description") if t.metadata else None,
        "exchange_rate": _rate(t.metadata),
        "fee": b.fee,
        "fee_details": (
            [
                {
                    "amount": b.fee,
                    "application": None,
                    "currency": t.currency,
                    "description": "Strongbox processing fees",
                    "type": "stripe_fee",
                }
            ]
            if b.fee
            else []
        ),
        "net": b.amount - b.fee,
        "reporting_category": kind,
        "source": t.source,
        "status": b.status,
        "type": kind,
        "ledger_transfer": t.id,
        **_presentment(t.metadata),
    }


def _rate(meta: dict[str, Any] | None) -> float | None:
    """Stripe renders the rate as a JSON number; the exact recorded text is in the ledger
    transfer's metadata (``exchange_rate``) and in ``presentment_details``."""
    raw = (meta or {}).get("exchange_rate")
    return float(raw) if isinstance(raw, str) else None


def _presentment(meta: dict[str, Any] | None) -> dict[str, Any]:
    """A converted payment's (or refund's) other side: what the customer paid, in which
    currency, at which recorded rate of which day (ledger/conversion.py)."""
    m = meta or {}
    if "presentment_amount" not in m:
        return {}
    return {
        "presentment_details": {
            "presentment_amount": m["presentment_amount"],
            "presentment_currency": m.get("presentment_currency"),
            "exchange_rate": m.get("exchange_rate"),
            "exchange_rate_date": m.get("exchange_rate_date"),
            "exchange_rate_source": m.get("exchange_rate_source"),
            "markup_bps": m.get("markup_bps"),
            "conversion": m.get("conversion", "converted"),
        }
    }


__all__ = [
    "BalanceTxn",
    "balance",
    "list_balance_transactions",
    "render_balance_transaction",
    "retrieve_balance_transaction",
]
