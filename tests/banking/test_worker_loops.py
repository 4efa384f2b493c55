"""The worker loops apply provider webhooks on their own: a signed webhook posted to the
running app leads to new transactions with no call from the test (waits on a condition)."""

from __future__ import annotations

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from strongbox.runtime import Runtime
from strongbox.workers.loops import build_workers
from support import wait_until


def test_bank_loops_run_when_a_provider_is_configured(runtime: Runtime) -> None:
    assert runtime.banking is None
    names = {loop.name for loop in build_workers(runtime).loops}
    assert not {"strongbox-bank-webhooks", "strongbox-bank-poll"} & names


def test_a_webhook_is_applied_by_the_worker(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    bank.refresh(acct, "transactions")
    workers = build_workers(runtime)
    names = {loop.name for loop in workers.loops}
    assert {"strongbox-bank-webhooks", "strongbox-bank-poll"} <= names
    workers.start()
    try:
        (item,) = plaid_fake.items.values()
        plaid_fake.add_transactions(item.item_id, [{"transaction_id": "w-1", "name": "Worker"}])
        assert [r.status_code for r in bank.deliver_webhooks()] == [200]
        wait_until(
            lambda: any(t["description"] == "Worker" for t in bank.transactions(acct)),
            "the worker to sync the item",
        )
    finally:
        workers.stop()
