"""Audit log appends per second, standalone, on SQLite and PostgreSQL.

Writer threads add entries through ``audit.service.record`` (the code path of the ``"*"``
subscriber) and commit; an integrator thread runs ``audit.service.integrate`` as the worker
loop does, concurrently. Reported: entries written per second, and end to end (written AND
integrated into the Merkle tree: index, leaf hash, nodes, compact range) per second. Then
``verify`` recomputes the tree and a few proofs are timed from the database node store.

    .venv/bin/python benchmarks/audit_append.py [--seconds 8] [--writers 4] [--batch 100]
        [--backends sqlite,postgresql] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from strongbox.audit import service
from strongbox.audit.models import AuditEntry
from strongbox.core.settings import Settings, normalize_database_url
from strongbox.runtime import Runtime, build_runtime


def fresh_pg(url: str, name: str) -> str:
    base = sa.engine.make_url(normalize_database_url(url))
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def plain_inserts(rt: Runtime, seconds: float, writers: int, batch: int) -> float:
    """Baseline: the same rows, same threads and batches, inserted into a plain copy of the
    table (no tree, no digests, no ids): rows per second."""
    md = sa.MetaData()
    plain = sa.Table(
        "bench_plain",
        md,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        *[
            sa.Column(c.name, c.type, nullable=True)
            for c in AuditEntry.__table__.columns
            if c.name != "seq"
        ],
    )
    md.create_all(rt.db.engine)
    stop = threading.Event()
    done = [0] * writers
    now = rt.db.clock.now()

    def writer(k: int) -> None:
        i = 0
        while not stop.is_set():
            rows = []
            for _ in range(batch):
                rows.append(
                    {
                        "id": f"aud_{k}_{i}",
                        "created": now,
                        "merchant_id": "acct_bench",
                        "actor": "api_key:key_bench",
                        "action": "payment_intent.succeeded",
                        "resource_type": "payment_intent",
                        "resource_id": f"pi_{k}_{i}",
                        "request_id": f"req_{k}_{i}",
                        "source_ip": "127.0.0.1",
                        "outcome": "success",
                    }
                )
                i += 1
            with rt.db.unit_of_work() as uow:
                uow.session.execute(sa.insert(plain), rows)
                uow.commit()
            done[k] += batch

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def run(rt: Runtime, seconds: float, writers: int, batch: int) -> dict[str, Any]:
    stop = threading.Event()
    written = [0] * writers
    integrated = [0]
    writers_done = threading.Event()

    def writer(k: int) -> None:
        i = 0
        while not stop.is_set():
            with rt.db.unit_of_work() as uow:
                for _ in range(batch):
                    service.record(
                        uow,
                        action="payment_intent.succeeded",
                        actor="api_key:key_bench",
                        merchant_id="acct_bench",
                        resource_type="payment_intent",
                        resource_id=f"pi_{k}_{i}",
                        request_id=f"req_{k}_{i}",
                        source_ip="127.0.0.1",
                        after={"id": f"pi_{k}_{i}", "amount": 2000, "currency": "usd"},
                    )
                    i += 1
                uow.commit()
            written[k] += batch

    def integrator() -> None:
        while True:
            with rt.db.unit_of_work() as uow:
                n = service.integrate(uow, batch=5000)
                uow.commit()
            integrated[0] += n
            if n == 0:
                if writers_done.is_set() and integrated[0] >= sum(written):
                    return
                time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    integ = threading.Thread(target=integrator)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    integ.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    writers_done.set()
    t_written = time.perf_counter() - t0
    integ.join()
    t_all = time.perf_counter() - t0
    total = sum(written)
    t_v = time.perf_counter()
    report = rt.audit.verify(rt.db)
    verify_s = time.perf_counter() - t_v
    assert report.ok, report.problems
    assert report.entries_checked == total
    # Proofs from the database node store.
    with rt.db.read() as s:
        tree = service.stored_tree(s)
        size = service.tree_state(s).size
        lat = []
        for _ in range(200):
            i = random.randrange(size)
            t = time.perf_counter()
            tree.inclusion_proof(i, size)
            lat.append((time.perf_counter() - t) * 1000)
    return {
        "entries": total,
        "written_per_s": total / t_written,
        "end_to_end_per_s": total / t_all,
        "verify_s": verify_s,
        "db_inclusion_ms_median": statistics.median(lat),
        "db_inclusion_ms_p99": sorted(lat)[int(len(lat) * 0.99) - 1],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    for backend in args.backends.split(","):
        for batch in (args.batch, 1):
            with tempfile.TemporaryDirectory() as tmp:
                url = (
                    fresh_pg(args.pg_url, "strongbox_bench_audit")
                    if backend == "postgresql"
                    else None
                )
                settings = Settings(
                    data_dir=Path(tmp) / "data",
                    database_url=url,
                    run_workers=False,
                    threads=args.writers + 2,
                )
                rt = build_runtime(settings)
                try:
                    base = plain_inserts(rt, args.seconds, args.writers, batch)
                    r = run(rt, args.seconds, args.writers, batch)
                finally:
                    rt.close()
            print(
                f"{backend:10} writers={args.writers} entries/tx={batch:<4} "
                f"entries={r['entries']:>7}  written/s={r['written_per_s']:>8.0f}  "
                f"written+integrated/s={r['end_to_end_per_s']:>8.0f}  "
                f"plain inserts/s={base:>8.0f} (ratio {r['end_to_end_per_s'] / base:.2f})  "
                f"verify={r['verify_s']:.2f}s  db inclusion proof median "
                f"{r['db_inclusion_ms_median']:.2f} ms p99 {r['db_inclusion_ms_p99']:.2f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
