"""Races on one item: syncs that overlap store each transaction once, and the last of two
disconnects that overlap removes the item at the provider (once) and destroys its token."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from strongbox.banking import tasks
from strongbox.banking.models import BankItem, BankTransactionRow
from strongbox.runtime import Runtime


def _item(runtime: Runtime) -> tuple[str, str]:
    with runtime.db.engine.connect() as conn:
        row = conn.execute(sa.select(BankItem.merchant_id, BankItem.id)).one()
    return row[0], row[1]


def test_overlapping_syncs_store_each_transaction_once(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    (fake_item,) = plaid_fake.items.values()
    plaid_fake.add_transactions(
        fake_item.item_id, [{"transaction_id": f"race-{i}", "amount": i + 1} for i in range(20)]
    )
    merchant_id, item_id = _item(runtime)
    banking = runtime.banking
    assert banking is not None
    start = threading.Barrier(4)

    def sync(_: Any) -> int:
        start.wait(timeout=60)
        return tasks.sync_item(
            runtime.db, banking, tasks._system(merchant_id, "test"), merchant_id, item_id
        )

    with ThreadPoolExecutor(4) as pool:
        changed = list(pool.map(sync, range(4)))
    assert sum(changed) == 23  # one sync applied the pages; the others found them applied
    with runtime.db.engine.connect() as conn:
        pids = (
            conn.execute(
                sa.select(BankTransactionRow.provider_transaction_id).where(
                    BankTransactionRow.account_id == acct
                )
            )
            .scalars()
            .all()
        )
    assert len(pids) == len(set(pids)) == 23


def test_overlapping_disconnects_remove_the_item_once(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    done = bank.link()
    ids = [a["id"] for a in done["accounts"]["data"]]
    start = threading.Barrier(2)

    def disconnect(account: str) -> int:
        start.wait(timeout=60)
        return bank.api.post(f"/v1/financial_connections/accounts/{account}/disconnect").status_code

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(disconnect, ids)) == [200, 200]
    assert plaid_fake.calls["/item/remove"] == 1
    with runtime.db.engine.connect() as conn:
        assert conn.execute(sa.select(BankItem.access_token_sealed)).scalar_one() is None
