"""Invariants of transaction sync, whatever the provider's changes and however the syncs
are triggered (refresh calls, webhooks delivered once or twice, page sizes): one row per
provider transaction, its id never changes, amounts are exact minor units with Stripe's
sign, removed transactions are void, and nothing else is."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from strongbox.banking import tasks
from strongbox.banking.models import BankTransactionRow
from strongbox.banking.providers import plaid as plaid_module
from strongbox.banking.providers.registry import Banking
from strongbox.runtime import Runtime

cents = st.integers(min_value=-10_000_000, max_value=10_000_000)
change = st.one_of(
    st.tuples(st.just("add"), cents, st.booleans()),
    st.tuples(st.just("modify"), cents, st.booleans()),
    st.tuples(st.just("remove"), st.just(0), st.just(False)),
    st.tuples(st.just("sync_refresh"), st.just(0), st.just(False)),
    st.tuples(st.just("sync_webhook"), st.just(0), st.booleans()),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(change, min_size=1, max_size=12), page=st.integers(1, 4))
def test_sync_matches_the_provider(
    bank: Bank,
    plaid_fake: PlaidFake,
    runtime: Runtime,
    banking: Banking,
    changes: list[tuple[str, int, bool]],
    page: int,
) -> None:
    old_page = plaid_module.SYNC_PAGE_SIZE
    plaid_module.SYNC_PAGE_SIZE = page  # several pages per sync: has_more, the cursor
    try:
        _run(bank, plaid_fake, runtime, banking, changes)
    finally:
        plaid_module.SYNC_PAGE_SIZE = old_page


def _run(
    bank: Bank,
    fake: PlaidFake,
    runtime: Runtime,
    banking: Banking,
    changes: list[tuple[str, int, bool]],
) -> None:
    before = set(fake.items)
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    (item_id,) = set(fake.items) - before
    item = fake.items[item_id]
    chk = item.accounts[0]["account_id"]
    # The provider's truth: transaction id -> (cents, pending), or None once removed.
    model: dict[str, tuple[int, bool] | None] = {
        t["transaction_id"]: (round(t["amount"] * 100), False) for _, t in item.log
    }
    ids: dict[str, str] = {}  # provider id -> our fctxn_ id, the first time it was seen

    def check(final: bool) -> None:
        rows = bank.transactions(acct)
        with runtime.db.engine.connect() as conn:
            pairs = conn.execute(
                sa.select(BankTransactionRow.provider_transaction_id, BankTransactionRow.id).where(
                    BankTransactionRow.account_id == acct
                )
            ).all()
        pids = [p for p, _ in pairs]
        assert len(pids) == len(set(pids)), "two rows for one provider transaction"
        assert len(rows) == len(pairs)
        by_id = {r["id"]: r for r in rows}
        for pid, rid in pairs:
            assert ids.setdefault(pid, rid) == rid, "a transaction's id changed"
        if not final:
            return
        assert set(pids) == set(model)
        for pid, rid in pairs:
            row, truth = by_id[rid], model[pid]
            if truth is None:
                assert row["status"] == "void"
            else:
                assert row["amount"] == -truth[0]
                assert row["status"] == ("pending" if truth[1] else "posted")

    def sync() -> None:
        bank.refresh(acct, "transactions")

    n = 0
    for kind, amount, flag in changes:
        live = [k for k, v in model.items() if v is not None]
        if kind == "add":
            n += 1
            tid = f"{item_id}-p{n}"
            fake.add_transactions(
                item_id,
                [
                    {
                        "transaction_id": tid,
                        "account_id": chk,
                        "amount": amount / 100,
                        "pending": flag,
                    }
                ],
            )
            model[tid] = (amount, flag)
        elif kind == "modify" and live:
            tid = live[amount % len(live)]
            fake.modify_transaction(
                item_id,
                {"transaction_id": tid, "account_id": chk, "amount": amount / 100, "pending": flag},
            )
            model[tid] = (amount, flag)
        elif kind == "remove" and live:
            fake.remove_transaction(item_id, live[0])
            model[live[0]] = None
        elif kind == "sync_refresh":
            sync()
            check(final=False)
        elif kind == "sync_webhook":
            if flag:  # the same delivery twice: stored once
                with fake.lock:
                    fake.outbox += list(fake.outbox)
            bank.deliver_webhooks()
            tasks.process_webhooks(runtime.db, banking)
            check(final=False)
    sync()
    check(final=True)
