"""Helpers shared by the ledger tests."""

from __future__ import annotations

from typing import Any

from strongbox.ledger.models import SYSTEM_FLAGS
from strongbox.ledger.service import AccountInfo, Balance, TransferRequest, TransferResult
from strongbox.runtime import Runtime


def account(
    rt: Runtime, merchant_id: str, purpose: str, currency: str = "usd", flags: int = 0
) -> str:
    with rt.db.unit_of_work() as uow:
        acct, _ = rt.ledger.create_account(uow, merchant_id, purpose, currency, flags, None)
        uow.commit()
    return acct.id


def system_account(
    rt: Runtime, merchant_id: str, purpose: str, currency: str = "usd"
) -> AccountInfo:
    with rt.db.unit_of_work() as uow:
        flags = SYSTEM_FLAGS.get(purpose, 0)  # as the posting rules create it
        info = rt.ledger.system_account(uow, merchant_id, purpose, currency, flags)
        uow.commit()
    return info


def post(rt: Runtime, merchant_id: str, *reqs: TransferRequest, **kw: Any) -> list[TransferResult]:
    with rt.db.unit_of_work() as uow:
        results = rt.ledger.create_transfers(uow, merchant_id, list(reqs), **kw)
        uow.commit()
    return results


def balance(rt: Runtime, merchant_id: str, account_id: str) -> Balance:
    with rt.db.read() as session:
        return rt.ledger.balances(session, merchant_id, [account_id])[account_id]


def codes(results: list[TransferResult]) -> list[str | None]:
    return [r.error.code if r.error else None for r in results]
