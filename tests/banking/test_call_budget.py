"""Provider calls per account per day: webhook-driven sync against polling every 15 minutes.

One simulated day of one item (two accounts) whose bank posts new transactions in
``UPDATES_PER_DAY`` batches. Polling: a ``/transactions/sync`` every 15 minutes (96 a day,
each a full call even when nothing changed). Webhooks: Plaid announces each batch; each
notice costs one sync, plus the daily fallback poll and, once per process, the webhook key.
Both modes end with the same transactions stored. The figures are written down in
docs/bank-data.md; this test keeps them true.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from strongbox.banking import service, tasks
from strongbox.banking.models import BankItem
from strongbox.runtime import Runtime

UPDATES_PER_DAY = 4
POLLS_PER_DAY = 24 * 60 // 15


def _calls(fake: PlaidFake) -> int:
    return fake.calls["/transactions/sync"] + fake.calls["/webhook_verification_key/get"]


def test_webhooks_cost_far_fewer_calls_than_polling(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    banking = runtime.banking
    assert banking is not None
    ids = {}
    for mode in ("polling", "webhooks"):
        before = set(plaid_fake.items)
        done = bank.link()
        (item_id,) = set(plaid_fake.items) - before
        acct = done["accounts"]["data"][0]["id"]
        with runtime.db.reader() as uow:
            item = uow.session.scalars(
                sa.select(BankItem).where(BankItem.provider_item_id == item_id)
            ).one()
            ours, merchant_id = item.id, item.merchant_id
        ctx = tasks._system(merchant_id, "test")
        tasks.sync_item(runtime.db, banking, ctx, merchant_id, ours)  # linked: the first sync
        start = _calls(plaid_fake)
        every = POLLS_PER_DAY // UPDATES_PER_DAY
        for tick in range(POLLS_PER_DAY):
            if tick % every == every // 2:
                plaid_fake.add_transactions(
                    item_id, [{"transaction_id": f"{mode}-{tick}", "amount": 1.25}]
                )
            if mode == "polling":
                tasks.sync_item(runtime.db, banking, ctx, merchant_id, ours)
            else:
                bank.deliver_webhooks()
                tasks.process_webhooks(runtime.db, banking)
        if mode == "webhooks":  # the day is over: the fallback poll comes due once
            with runtime.db.unit_of_work() as uow:
                row = uow.session.get(
                    BankItem, uow.session.scalar(sa.select(BankItem.seq).where(BankItem.id == ours))
                )
                assert row is not None
                row.next_poll_at = uow.clock.now() - timedelta(seconds=1)
                uow.commit()
            assert tasks.poll_once(runtime.db, banking) == 1
        ids[mode] = (_calls(plaid_fake) - start, len(bank.transactions(acct)))
        plaid_fake.outbox.clear()  # a polling deployment takes no webhooks
    per_account = {m: calls / 2 for m, (calls, _) in ids.items()}
    assert ids["polling"][1] == ids["webhooks"][1] == 3 + UPDATES_PER_DAY
    assert per_account["polling"] == POLLS_PER_DAY / 2  # 48 calls per account per day
    # 4 syncs + 1 fallback poll + 1 key fetch for the item = 3 per account per day.
    assert per_account["webhooks"] == (UPDATES_PER_DAY + 2) / 2
    saved = 1 - per_account["webhooks"] / per_account["polling"]
    assert saved >= 0.70, saved
    assert timedelta(days=1) == service.POLL_INTERVAL
