"""Ledger benchmark: transfers/s one by one and batched, on PostgreSQL and SQLite; a hot
account against spread accounts; django-hordak posting the same transfers on the same
PostgreSQL server; and the ledger's share of the in-process payments path.

    .venv/bin/pip install -e '.[bench]'       # django-hordak and Django (which uses psycopg 3)
    .venv/bin/python benchmarks/ledger_bench.py [--seconds 3] [--batches 4] [--rounds 6]
        [--only pg,sqlite,hot,hordak,single,payments]

Every figure is measured in the same run as its baseline and reported as a ratio too: the
machine is shared and noisy. ``single`` alternates Strongbox's and django-hordak's single
transfers in short windows (``--rounds`` of ``--seconds``/2 each) and takes the ratio per
round, so both meet the same load. Databases ``ledger_bench`` and ``ledger_bench_hordak`` are
dropped and recreated on the server of ``--pg`` (default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from strongbox.core.settings import Settings
from strongbox.ledger.service import MAX_BATCH, TransferRequest
from strongbox.runtime import Runtime, build_runtime

MERCHANT = "acct_ledger_bench"
THREADS = 8


def recreate(server: str, name: str) -> str:
    admin = sa.create_engine(
        server.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    admin.dispose()
    return f"{server}/{name}"


def make_runtime(url: str | None, data_dir: Path) -> Runtime:
    return build_runtime(
        Settings(
            data_dir=data_dir,
            database_url=url,
            run_workers=False,
            threads=16,
            rate_limit_per_second=0,
        )
    )


def account(rt: Runtime, purpose: str, slots: int | None = None) -> str:
    ledger = rt.ledger
    original = ledger.slots_for
    if slots is not None:
        ledger.slots_for = lambda _uow: slots  # type: ignore[method-assign]
    try:
        with rt.db.unit_of_work() as uow:
            acct, _ = ledger.create_account(uow, MERCHANT, purpose, "usd", 0, None)
            uow.commit()
    finally:
        ledger.slots_for = original  # type: ignore[method-assign]
    return acct.id


class Ids:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            self.n += 1
            return f"{self.prefix}{self.n}"


def one_by_one(rt: Runtime, pairs: list[tuple[str, str]], seconds: float, ids: Ids) -> float:
    """Each thread posts single transfers (one transaction each) between its pair of accounts."""
    stop = time.perf_counter() + seconds
    counts = [0] * len(pairs)

    def work(i: int) -> None:
        debit, credit = pairs[i]
        while time.perf_counter() < stop:
            req = TransferRequest(
                id=ids.next(),
                debit_account_id=debit,
                credit_account_id=credit,
                amount=1,
                currency="usd",
            )
            with rt.db.unit_of_work() as uow:
                (res,) = rt.ledger.create_transfers_retrying(uow, MERCHANT, [req])
                assert res.ok, res.error
                uow.commit()
            counts[i] += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(len(pairs)) as pool:
        list(pool.map(work, range(len(pairs))))
    return sum(counts) / (time.perf_counter() - start)


def batched(rt: Runtime, debit: str, credit: str, batches: int, ids: Ids) -> float:
    total = 0
    start = time.perf_counter()
    for _ in range(batches):
        reqs = [
            TransferRequest(
                id=ids.next(),
                debit_account_id=debit,
                credit_account_id=credit,
                amount=1,
                currency="usd",
            )
            for _ in range(MAX_BATCH)
        ]
        with rt.db.unit_of_work() as uow:
            results = rt.ledger.create_transfers_retrying(uow, MERCHANT, reqs)
            assert all(r.ok for r in results)
            uow.commit()
        total += len(reqs)
    return total / (time.perf_counter() - start)


def batched_http(rt: Runtime, debit: str, credit: str, batches: int, ids: Ids) -> float:
    from fastapi.testclient import TestClient

    from strongbox.api.app import create_app
    from strongbox.auth import service as auth

    with rt.db.unit_of_work() as uow:
        new = auth.create_merchant(uow, "bench")
        uow.commit()
    merchant = new.merchant.id
    with rt.db.unit_of_work() as uow:
        d, _ = rt.ledger.create_account(uow, merchant, "bench_d", "usd", 0, None)
        c, _ = rt.ledger.create_account(uow, merchant, "bench_c", "usd", 0, None)
        uow.commit()
    headers = {"Authorization": f"Bearer {new.secret_key.reveal()}"}
    total = 0
    with TestClient(create_app(rt, run_workers=False)) as client:
        start = time.perf_counter()
        for _ in range(batches):
            body = {
                "transfers": [
                    {
                        "id": ids.next(),
                        "debit_account": d.id,
                        "credit_account": c.id,
                        "amount": 1,
                        "currency": "usd",
                    }
                    for _ in range(MAX_BATCH)
                ]
            }
            r = client.post("/v1/ledger/transfers/batch", json=body, headers=headers)
            assert r.status_code == 200, r.text[:500]
            total += MAX_BATCH
        return total / (time.perf_counter() - start)


def section_backend(
    name: str, url: str | None, args: argparse.Namespace, out: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rt = make_runtime(url, Path(tmp))
        try:
            a, b = account(rt, "a"), account(rt, "b")
            ids = Ids(f"{name}-")
            one_by_one(rt, [(a, b)], 0.5, ids)  # warm up
            out[f"{name}_one_by_one_1_thread"] = one_by_one(rt, [(a, b)], args.seconds, ids)
            out[f"{name}_one_by_one_{THREADS}_threads"] = one_by_one(
                rt, [(a, b)] * THREADS, args.seconds, ids
            )
            out[f"{name}_batched_service"] = batched(rt, a, b, args.batches, ids)
            out[f"{name}_batched_http"] = batched_http(rt, a, b, max(1, args.batches // 2), ids)
        finally:
            rt.close()


def section_hot(url: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """8 threads, single transfers: into 8 different accounts, into one (16 slots), and into
    one account with a single balance row (the design this ledger avoids), interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = make_runtime(url, Path(tmp))
        try:
            sources = [account(rt, f"src{i}") for i in range(THREADS)]
            spread = [account(rt, f"dst{i}") for i in range(THREADS)]
            hot = account(rt, "hot")
            single_row = account(rt, "hot_single_row", slots=1)
            ids = Ids("hot-")
            one_by_one(rt, list(zip(sources, spread, strict=True)), 0.5, ids)
            runs: dict[str, list[float]] = {"spread": [], "hot": [], "hot_single_row": []}
            for _ in range(2):
                runs["spread"].append(
                    one_by_one(rt, list(zip(sources, spread, strict=True)), args.seconds / 2, ids)
                )
                runs["hot"].append(
                    one_by_one(rt, [(s, hot) for s in sources], args.seconds / 2, ids)
                )
                runs["hot_single_row"].append(
                    one_by_one(rt, [(s, single_row) for s in sources], args.seconds / 2, ids)
                )
            for k, v in runs.items():
                out[f"pg_{k}_{THREADS}_threads"] = sum(v) / len(v)
            out["hot_over_spread"] = (
                out[f"pg_hot_{THREADS}_threads"] / out[f"pg_spread_{THREADS}_threads"]
            )
            out["single_row_over_spread"] = (
                out[f"pg_hot_single_row_{THREADS}_threads"] / out[f"pg_spread_{THREADS}_threads"]
            )
        finally:
            rt.close()


def hordak_accounts(server: str) -> tuple[Any, Any]:
    """A fresh django-hordak database on ``server`` with two USD asset accounts."""
    recreate(server, "ledger_bench_hordak")
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hordak_settings")
    import django

    django.setup()
    from django.core.management import call_command
    from hordak.models import Account

    call_command("migrate", verbosity=0)
    a = Account.objects.create(name="A", type=Account.TYPES.asset, currencies=["USD"])
    b = Account.objects.create(name="B", type=Account.TYPES.asset, currencies=["USD"])
    return a, b


def section_hordak(server: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    a, b = hordak_accounts(server)
    from django.db import connection, transaction  # after django.setup()
    from djmoney.money import Money

    one = Money(1, "USD")
    n = 0
    stop = time.perf_counter() + args.seconds
    start = time.perf_counter()
    while time.perf_counter() < stop:
        with transaction.atomic():
            a.transfer_to(b, one)
        n += 1
    out["hordak_one_by_one_1_thread"] = n / (time.perf_counter() - start)
    size = 2000
    start = time.perf_counter()
    with transaction.atomic():
        for _ in range(size):
            a.transfer_to(b, one)
    out["hordak_batched_2000_in_one_transaction"] = size / (time.perf_counter() - start)
    connection.close()


def section_single(server: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Single transfers, each its own transaction, one thread: Strongbox
    (``create_transfers_retrying`` + commit) and django-hordak (``transfer_to`` in
    ``atomic()``) alternating in short windows in this one process, so both meet the same
    load; the ratio is taken per round. Also this process's CPU per transfer, the round trips
    per transfer (counted from libpq's protocol trace over 100 transfers each), and the
    floor: an empty durable transaction (BEGIN, a one-row INSERT, COMMIT) from bare psycopg,
    in a quarter-length window of each round."""
    ha, hb = hordak_accounts(server)
    from django.db import connection, transaction  # after django.setup()
    from djmoney.money import Money

    one = Money(1, "USD")
    with tempfile.TemporaryDirectory() as tmp:
        rt = make_runtime(recreate(server, "ledger_bench"), Path(tmp))
        try:
            sa_, sb_ = account(rt, "a"), account(rt, "b")
            ids = Ids("single-")

            def strongbox_one() -> None:
                req = TransferRequest(
                    id=ids.next(),
                    debit_account_id=sa_,
                    credit_account_id=sb_,
                    amount=1,
                    currency="usd",
                )
                with rt.db.unit_of_work() as uow:
                    (res,) = rt.ledger.create_transfers_retrying(uow, MERCHANT, [req])
                    assert res.ok, res.error
                    uow.commit()

            def hordak_one() -> None:
                with transaction.atomic():
                    ha.transfer_to(hb, one)

            def window(fn: Callable[[], None], seconds: float) -> tuple[float, float]:
                n, c0, t0 = 0, time.process_time(), time.perf_counter()
                stop = t0 + seconds
                while time.perf_counter() < stop:
                    fn()
                    n += 1
                return n / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / n

            for _ in range(20):  # warm up both (caches, prepared statements)
                strongbox_one()
                hordak_one()
            # Round trips, counted (not timed) from libpq's protocol trace of 100 transfers
            # each: every message the client then waits on is a Sync or a Query.
            trips = {"strongbox": 0, "hordak": 0}

            def traced(name: str, raw: Any, fn: Callable[[], None]) -> None:
                with tempfile.NamedTemporaryFile("w+") as f:
                    raw.pgconn.trace(f.fileno())
                    raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
                    fn()
                    raw.pgconn.untrace()
                    f.seek(0)
                    for line in f:
                        w = line.split()
                        trips[name] += len(w) > 2 and w[0] == "F" and w[2] in ("Sync", "Query")

            def strongbox_traced() -> None:
                req = TransferRequest(
                    id=ids.next(),
                    debit_account_id=sa_,
                    credit_account_id=sb_,
                    amount=1,
                    currency="usd",
                )
                with rt.db.unit_of_work() as uow:
                    raw = uow.session.connection().connection.driver_connection

                    def work() -> None:
                        (res,) = rt.ledger.create_transfers_retrying(uow, MERCHANT, [req])
                        assert res.ok, res.error
                        uow.commit()

                    traced("strongbox", raw, work)

            for _ in range(100):
                strongbox_traced()
            connection.ensure_connection()
            traced("hordak", connection.connection, lambda: [hordak_one() for _ in range(100)])
            # The floor: the smallest durable transaction, BEGIN + a one-row INSERT + COMMIT
            # from bare psycopg on the same server (what no ledger transfer can beat).
            floor_conn = psycopg.connect(f"{server}/ledger_bench")
            floor_conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, v int)")
            floor_conn.commit()

            def floor_one() -> None:
                floor_conn.execute("INSERT INTO bench_floor (v) VALUES (1)")
                floor_conn.commit()

            ours: list[tuple[float, float]] = []
            theirs: list[tuple[float, float]] = []
            floor: list[tuple[float, float]] = []
            for _ in range(args.rounds):
                ours.append(window(strongbox_one, args.seconds / 2))
                theirs.append(window(hordak_one, args.seconds / 2))
                floor.append(window(floor_one, args.seconds / 4))
            floor_conn.close()
            ratios = sorted(o[0] / t[0] for o, t in zip(ours, theirs, strict=True))
            out["single_strongbox_per_s_median"] = statistics.median(o[0] for o in ours)
            out["single_hordak_per_s_median"] = statistics.median(t[0] for t in theirs)
            out["single_over_hordak_median"] = statistics.median(ratios)
            out["single_over_hordak_min"] = ratios[0]
            out["single_over_hordak_max"] = ratios[-1]
            out["single_strongbox_cpu_ms"] = statistics.median(o[1] for o in ours)
            out["single_hordak_cpu_ms"] = statistics.median(t[1] for t in theirs)
            out["single_floor_per_s_median"] = statistics.median(f[0] for f in floor)
            out["single_strongbox_round_trips"] = trips["strongbox"] / 100
            out["single_hordak_round_trips"] = trips["hordak"] / 100
        finally:
            rt.close()
            connection.close()


def section_payments(
    url: str | None, name: str, args: argparse.Namespace, out: dict[str, Any]
) -> None:
    """Create-and-confirm payments in-process (TestClient, sequential), with the ledger's
    posting rules subscribed and with them removed, interleaved, on the same runtime."""
    from fastapi.testclient import TestClient

    from strongbox.api.app import create_app
    from strongbox.auth import service as auth

    with tempfile.TemporaryDirectory() as tmp:
        rt = make_runtime(url, Path(tmp))
        try:
            with rt.db.unit_of_work() as uow:
                new = auth.create_merchant(uow, "bench")
                uow.commit()
            headers = {"Authorization": f"Bearer {new.secret_key.reveal()}"}
            handlers = list(rt.dispatcher._handlers)
            without = [h for h in handlers if h[1] != "ledger"]
            assert len(without) < len(handlers)
            data = {
                "amount": "2000",
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            }
            rates: dict[str, list[float]] = {"with": [], "without": []}
            with TestClient(create_app(rt, run_workers=False)) as client:

                def run(seconds: float) -> float:
                    n, stop, start = 0, time.perf_counter() + seconds, time.perf_counter()
                    while time.perf_counter() < stop:
                        r = client.post("/v1/payment_intents", data=data, headers=headers)
                        assert r.status_code == 200, r.text
                        n += 1
                    return n / (time.perf_counter() - start)

                run(0.5)
                for _ in range(3):
                    rt.dispatcher._handlers = without
                    rates["without"].append(run(args.seconds / 3))
                    rt.dispatcher._handlers = handlers
                    rates["with"].append(run(args.seconds / 3))
            w, wo = sum(rates["with"]) / 3, sum(rates["without"]) / 3
            out[f"{name}_payments_with_ledger"] = w
            out[f"{name}_payments_without_ledger"] = wo
            out[f"{name}_ledger_overhead"] = 1 - w / wo
        finally:
            rt.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--only", default="pg,sqlite,hot,hordak,single,payments")
    args = parser.parse_args()
    only = set(args.only.split(","))
    out: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], None]]] = [
        ("pg", lambda: section_backend("pg", recreate(args.pg, "ledger_bench"), args, out)),
        ("sqlite", lambda: section_backend("sqlite", None, args, out)),
        ("hot", lambda: section_hot(recreate(args.pg, "ledger_bench"), args, out)),
        ("hordak", lambda: section_hordak(args.pg, args, out)),
        ("single", lambda: section_single(args.pg, args, out)),
        ("payments", lambda: section_payments(recreate(args.pg, "ledger_bench"), "pg", args, out)),
        ("payments", lambda: section_payments(None, "sqlite", args, out)),
    ]
    t0 = time.perf_counter()
    for key, fn in steps:
        if key in only:
            fn()
            print(f"[{time.perf_counter() - t0:5.1f}s] {key} done", file=sys.stderr)
    if "pg_one_by_one_1_thread" in out and "hordak_one_by_one_1_thread" in out:
        out["one_by_one_over_hordak"] = (
            out["pg_one_by_one_1_thread"] / out["hordak_one_by_one_1_thread"]
        )
    if "pg_batched_service" in out and "hordak_batched_2000_in_one_transaction" in out:
        out["batched_over_hordak_batched"] = (
            out["pg_batched_service"] / out["hordak_batched_2000_in_one_transaction"]
        )
        out["batched_over_hordak_one_by_one"] = (
            out["pg_batched_service"] / out["hordak_one_by_one_1_thread"]
        )
    out["seconds_total"] = time.perf_counter() - t0
    print(
        json.dumps(
            {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}, indent=2
        )
    )


if __name__ == "__main__":
    main()
