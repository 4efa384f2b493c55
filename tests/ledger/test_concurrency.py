"""Concurrent postings: the balance flag holds, and nothing is lost or posted twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from ledger.helpers import account, balance, post
from strongbox.ledger.models import DEBITS_MUST_NOT_EXCEED_CREDITS, KIND_PENDING, KIND_POST
from strongbox.ledger.service import MAX_AMOUNT, MAX_BALANCE, TransferResult
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant

THREADS = 8


def _run(runtime: Runtime, merchant: Merchant, work: list[list[list[T]]]) -> list[TransferResult]:
    """Thread ``t`` commits the batches ``work[t]``, one transaction each; all start at once."""
    start = threading.Barrier(len(work))

    def one(batches: list[list[T]]) -> list[TransferResult]:
        start.wait(timeout=30)
        out: list[TransferResult] = []
        for batch in batches:
            with runtime.db.unit_of_work() as uow:
                out += runtime.ledger.create_transfers_retrying(uow, merchant.id, batch)
                uow.commit()
        return out

    with ThreadPoolExecutor(len(work)) as pool:
        return [r for rs in pool.map(one, work) for r in rs]


@pytest.mark.parametrize("pending", [False, True])
def test_constrained_account_never_goes_negative(
    runtime: Runtime, merchant: Merchant, pending: bool
) -> None:
    cash = account(runtime, merchant.id, "cash")
    wallet = account(runtime, merchant.id, "wallet", flags=DEBITS_MUST_NOT_EXCEED_CREDITS)
    post(
        runtime,
        merchant.id,
        T(id="fund", debit_account_id=cash, credit_account_id=wallet, amount=1000, currency="usd"),
    )
    kind = KIND_PENDING if pending else "posted"
    # 8 threads x 10 debits of 30 = 2400 asked for, 1000 there: exactly 33 may succeed.
    reqs = [
        [
            T(
                id=f"w{t}.{i}",
                kind=kind,
                debit_account_id=wallet,
                credit_account_id=cash,
                amount=30,
                currency="usd",
            )
        ]
        for t in range(THREADS)
        for i in range(10)
    ]
    results = _run(runtime, merchant, [reqs[t::THREADS] for t in range(THREADS)])
    ok = [r for r in results if r.ok]
    assert {r.error.code for r in results if r.error} == {"exceeds_credits"}
    assert len(ok) == 33
    b = balance(runtime, merchant.id, wallet)
    assert b.credits_posted == 1000
    assert b.debits_pending + b.debits_posted == 33 * 30


def test_hot_account_concurrent_credits_are_all_counted(
    runtime: Runtime, merchant: Merchant
) -> None:
    hot = account(runtime, merchant.id, "hot")
    sources = [account(runtime, merchant.id, f"src{t}") for t in range(THREADS)]
    reqs = [
        [
            T(
                id=f"h{t}.{i}",
                debit_account_id=sources[t],
                credit_account_id=hot,
                amount=i + 1,
                currency="usd",
            )
            for i in range(25)
        ]
        for t in range(THREADS)
    ]
    results = _run(runtime, merchant, [[[r] for r in batch] for batch in reqs])
    assert all(r.ok for r in results)
    assert balance(runtime, merchant.id, hot).credits_posted == THREADS * sum(range(1, 26))


def test_racing_posts_of_one_pending_transfer_post_once(
    runtime: Runtime, merchant: Merchant
) -> None:
    cash, sales = account(runtime, merchant.id, "cash"), account(runtime, merchant.id, "sales")
    post(
        runtime,
        merchant.id,
        T(
            id="p",
            kind=KIND_PENDING,
            debit_account_id=cash,
            credit_account_id=sales,
            amount=100,
            currency="usd",
        ),
    )
    reqs = [
        [T(id=f"post{t}", kind=KIND_POST, pending_id="p", amount=10 + t)] for t in range(THREADS)
    ]
    results = _run(runtime, merchant, [[batch] for batch in reqs])
    assert sum(r.ok for r in results) == 1
    assert {r.error.code for r in results if r.error} == {"pending_transfer_already_posted"}
    (winner,) = [r for r in results if r.ok]
    assert winner.transfer is not None
    assert balance(runtime, merchant.id, sales).credits_posted == winner.transfer.amount


def test_racing_same_id_posts_once(runtime: Runtime, merchant: Merchant) -> None:
    cash, sales = account(runtime, merchant.id, "cash"), account(runtime, merchant.id, "sales")
    req = T(id="once", debit_account_id=cash, credit_account_id=sales, amount=7, currency="usd")
    results = _run(runtime, merchant, [[[req]] for _ in range(THREADS)])
    assert all(r.ok for r in results)
    assert sum(not r.replayed for r in results) == 1
    assert balance(runtime, merchant.id, sales).credits_posted == 7


def test_database_trigger_alone_holds_the_flag_under_concurrent_raw_updates(
    runtime: Runtime, merchant: Merchant, backend: str
) -> None:
    """Raw UPDATEs on different slots of one account, at once: the trigger serializes them."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer; the concurrent case is PostgreSQL's")
    cash = account(runtime, merchant.id, "cash")
    wallet = account(runtime, merchant.id, "wallet", flags=DEBITS_MUST_NOT_EXCEED_CREDITS)
    post(
        runtime,
        merchant.id,
        T(id="fund", debit_account_id=cash, credit_account_id=wallet, amount=100, currency="usd"),
    )
    start = threading.Barrier(THREADS)

    def debit(slot: int) -> bool:
        start.wait(timeout=30)
        try:
            with runtime.db.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE ledger_balance_slots SET debits_posted = debits_posted + 30 "
                        "WHERE account_id = :a AND slot = :s"
                    ),
                    {"a": wallet, "s": slot},
                )
        except sa.exc.DBAPIError:
            return False
        return True

    with ThreadPoolExecutor(THREADS) as pool:
        done = list(pool.map(debit, range(1, THREADS + 1)))
    # At most 3 x 30 fit in 100; the others are refused (limit, or a deadlock the database
    # broke: the trigger locks every slot of the account, so raw writers can meet).
    assert 1 <= sum(done) <= 3
    b = balance(runtime, merchant.id, wallet)
    assert b.debits_posted == 30 * sum(done)
    assert b.debits_posted <= b.credits_posted


def test_racing_same_id_on_the_single_statement_path(runtime: Runtime, merchant: Merchant) -> None:
    """With the accounts cached, a single transfer is one statement on PostgreSQL; twins racing
    on one id meet in its ``ON CONFLICT``: one is created, the others replay it, the balance
    counts it once."""
    cash, sales = account(runtime, merchant.id, "cash"), account(runtime, merchant.id, "sales")
    warm = T(id="warm", debit_account_id=cash, credit_account_id=sales, amount=1, currency="usd")
    assert post(runtime, merchant.id, warm)[0].ok  # caches both accounts
    for round_ in range(5):
        req = T(
            id=f"twin{round_}",
            debit_account_id=cash,
            credit_account_id=sales,
            amount=7,
            currency="usd",
        )
        results = _run(runtime, merchant, [[[req]] for _ in range(THREADS)])
        assert all(r.ok for r in results), [r.error for r in results]
        assert sum(not r.replayed for r in results) == 1
    assert balance(runtime, merchant.id, sales).as_tuple() == (0, 0, 0, 1 + 5 * 7)
    assert balance(runtime, merchant.id, cash).as_tuple() == (0, 1 + 5 * 7, 0, 0)


def test_racing_writers_near_the_limit_never_pass_it(runtime: Runtime, merchant: Merchant) -> None:
    """8 threads credit one account that is a few transfers short of the limit, single
    transfers on the one-statement path: exactly as many succeed as fit, the rest fail with
    ``overflows_credits_posted``, and the balance ends exactly at the limit."""
    m = merchant.id
    full = account(runtime, m, "full")
    sources = [account(runtime, m, f"src{t}") for t in range(THREADS + 1)]
    big = MAX_AMOUNT
    fill = [
        T(
            id=f"fill{i}",
            debit_account_id=sources[THREADS],
            credit_account_id=full,
            amount=big,
            currency="usd",
        )
        for i in range(MAX_BALANCE // big)
    ]
    assert all(r.ok for r in post(runtime, m, *fill))
    room = MAX_BALANCE - (MAX_BALANCE // big) * big  # what is left: 512
    assert room == 512
    for t in range(THREADS):  # cache every account: the one-statement path
        warm = T(
            id=f"warm{t}",
            debit_account_id=sources[t],
            credit_account_id=sources[THREADS],
            amount=1,
            currency="usd",
        )
        assert post(runtime, m, warm)[0].ok
    reqs = [
        [
            [
                T(
                    id=f"r{t}.{i}",
                    debit_account_id=sources[t],
                    credit_account_id=full,
                    amount=10,
                    currency="usd",
                )
            ]
            for i in range(8)
        ]
        for t in range(THREADS)
    ]
    results = _run(runtime, merchant, reqs)
    ok = sum(r.ok for r in results)
    assert ok == room // 10  # 51 of the 64 fit
    assert {r.error.code for r in results if r.error} == {"overflows_credits_posted"}
    assert balance(runtime, m, full).as_tuple() == (0, 0, 0, MAX_BALANCE - room + 10 * ok)
