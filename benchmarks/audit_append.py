"""Audit log appends per second, standalone, on SQLite and PostgreSQL.

Writer threads add entries through ``audit.service.record`` (the code path of the ``"*"``
subscriber: an entry id, the digest of a payment intent as the API renders it, the row
buffered on the unit of work and inserted at commit) and commit; the audit worker loop's own
integrator (``workers.audit``: a ``Loop`` thread running ``integrate_pass``) runs
concurrently, as in ``strongbox serve``. Reported per backend and entries per transaction:

- ``plain``: the baseline, in the same run: the same rows, threads and transactions inserted
  into a plain copy of the table (primary key only; no id, digest, tree, integration), with
  the same statement the audit path uses (``COPY`` from 16 rows on PostgreSQL, one INSERT
  for a single row; an executemany on SQLite);
- ``written``: entries committed per second by the writers, the integrator running;
- ``written+integrated``: entries per second until the last one is in the Merkle tree (index,
  leaf hash, nodes, compact range), and ``drain``: how long the integrator took after the
  writers stopped;
- ``integrate alone``: integration of a backlog written beforehand (the writers stopped),
  entries per second: the integrator's own capacity;
- ``verify`` recomputing the whole tree, and inclusion proofs from the database node store.

    .venv/bin/python benchmarks/audit_append.py [--seconds 5] [--writers 2] [--batch 100]
        [--sizes 100,1] [--backends sqlite,postgresql]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test]
    .venv/bin/python benchmarks/audit_append.py --per-call 5000   # the per-request path
"""

from __future__ import annotations

import argparse
import os
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
from strongbox.workers.audit import audit_loops

HZ = os.sysconf("SC_CLK_TCK")
# The columns a writer fills (the baseline's rows; the rest are NULL until integration).
# Spelled out, not audit.repository.ENTRY_COLUMNS: the script also runs against the code
# before (PYTHONPATH=<old src>), which has no such name.
ENTRY_COLUMNS = (
    "id",
    "created",
    "merchant_id",
    "actor",
    "action",
    "resource_type",
    "resource_id",
    "request_id",
    "source_ip",
    "outcome",
    "before_digest",
    "after_digest",
    "event_id",
)


def fresh_pg(url: str, name: str) -> str:
    base = sa.engine.make_url(normalize_database_url(url))
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def payment_intent(pi: str, charge: str, pm: str) -> dict[str, Any]:
    """A succeeded payment intent as the API renders it (what the subscriber digests)."""
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": 2000,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 2000,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi}_secret_XtqVlR0K8reckx3lIoiEqorF1",
        "confirmation_method": "automatic",
        "created": 1796655396,
        "currency": "usd",
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": charge,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def timed_threads(seconds: float, writers: int, work: Any) -> tuple[int, float]:
    """Run ``work(k, stop) -> entries`` in ``writers`` threads for ``seconds``."""
    stop = threading.Event()
    done = [0] * writers

    def run(k: int) -> None:
        done[k] = work(k, stop)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(writers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(done), time.perf_counter() - t0


def plain_inserts(rt: Runtime, seconds: float, writers: int, batch: int) -> float:
    """Baseline: the same rows, same threads and transactions, inserted into a plain copy of
    the table with the audit path's statements: rows per second."""
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
    cols = ", ".join(ENTRY_COLUMNS)
    marks = ", ".join(["%s"] * len(ENTRY_COLUMNS))
    pg_insert = f"INSERT INTO bench_plain ({cols}) VALUES ({marks})"  # noqa: S608
    pg_copy = f"COPY bench_plain ({cols}) FROM STDIN"
    is_pg = not rt.db.is_sqlite

    def work(k: int, stop: threading.Event) -> int:
        i = n = 0
        while not stop.is_set():
            rows = []
            now = rt.db.clock.now()
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
                        "before_digest": None,
                        "after_digest": f"{i:064x}",
                        "event_id": f"evt_{k}_{i}",
                    }
                )
                i += 1
            with rt.db.unit_of_work() as uow:
                conn = uow.session.connection()
                if not is_pg:
                    conn.execute(sa.insert(plain), rows)
                elif batch < 16:
                    for r in rows:
                        conn.exec_driver_sql(pg_insert, tuple(r[c] for c in ENTRY_COLUMNS))
                else:
                    raw = conn.connection.driver_connection
                    assert raw is not None
                    with raw.cursor() as cur, cur.copy(pg_copy) as copy:
                        for r in rows:
                            copy.write_row(tuple(r[c] for c in ENTRY_COLUMNS))
                uow.commit()
            n += batch
        return n

    total, elapsed = timed_threads(seconds, writers, work)
    return total / elapsed


def writer_work(rt: Runtime, batch: int, tag: str) -> Any:
    def work(k: int, stop: threading.Event) -> int:
        i = n = 0
        while not stop.is_set():
            with rt.db.unit_of_work() as uow:
                for _ in range(batch):
                    pi = f"pi_{tag}{k}x{i}"
                    service.record(
                        uow,
                        action="payment_intent.succeeded",
                        actor="api_key:key_bench",
                        merchant_id="acct_bench",
                        resource_type="payment_intent",
                        resource_id=pi,
                        request_id=f"req_{tag}{k}x{i}",
                        source_ip="127.0.0.1",
                        after=payment_intent(pi, f"ch_{tag}{k}x{i}", "pm_bench"),
                        event_id=f"evt_{tag}{k}x{i}",
                    )
                    i += 1
                uow.commit()
            n += batch
        return n

    return work


def pg_backends_cpu(rt: Runtime) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to the benchmark database."""
    if rt.db.is_sqlite:
        return 0.0
    with rt.db.read() as s:
        pids = s.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / HZ
        return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every process, /proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f) - f[3] - f[4]) / HZ


def wait_quiet(seconds: float, max_cores: float = 0.3) -> float:
    """Wait (bounded) until the machine is nearly idle (it may be shared); returns the busy
    cores seen last, measured anyway if it never got quiet."""
    deadline = time.monotonic() + seconds
    while True:
        b0, t0 = machine_busy(), time.monotonic()
        time.sleep(1.0)
        busy = (machine_busy() - b0) / (time.monotonic() - t0)
        if busy <= max_cores or time.monotonic() > deadline:
            return busy


def pending(rt: Runtime) -> int:
    with rt.db.read() as s:
        return service.pending_count(s)


def run(rt: Runtime, seconds: float, writers: int, batch: int) -> dict[str, Any]:
    before = pending(rt)  # vault keys created at start-up are audited too
    integrator = audit_loops(rt)[0]
    integrator.start()
    cpu0, pg0, busy0 = time.process_time(), pg_backends_cpu(rt), machine_busy()
    total, t_written = timed_threads(seconds, writers, writer_work(rt, batch, "a"))
    t_stop = time.perf_counter()
    while pending(rt):  # the loop integrates; wait (bounded) until it has taken everything
        if time.perf_counter() - t_stop > 120:
            raise RuntimeError("the integrator did not drain the log in 120 s")
        time.sleep(0.01)
    drain = time.perf_counter() - t_stop
    cpu, pg, busy = (
        time.process_time() - cpu0,
        pg_backends_cpu(rt) - pg0,
        machine_busy() - busy0,
    )
    integrator.stop()
    integrator.join(10)

    # The integrator alone, on a backlog written with it stopped.
    backlog, _ = timed_threads(seconds / 2, writers, writer_work(rt, batch, "b"))
    t = time.perf_counter()
    integrated = rt.audit.integrate(rt.db)
    t_integrate = time.perf_counter() - t
    assert integrated == backlog, (integrated, backlog)

    t_v = time.perf_counter()
    report = rt.audit.verify(rt.db)
    verify_s = time.perf_counter() - t_v
    assert report.ok, report.problems
    with rt.db.read() as s:
        size = service.tree_state(s).size
        assert report.entries_checked == size
        assert size >= before + total + backlog
        tree = service.stored_tree(s)
        lat = []
        for _ in range(200):
            i = random.randrange(size)
            t = time.perf_counter()
            tree.inclusion_proof(i, size)
            lat.append((time.perf_counter() - t) * 1000)
    return {
        "entries": total,
        "written_per_s": total / t_written,
        "end_to_end_per_s": total / (t_written + drain),
        "drain_s": drain,
        # CPU per entry (us): this process (writers + integrator), the database backends,
        # and the whole machine (everything: other processes, PostgreSQL's WAL writer ...)
        "python_us": 1e6 * cpu / total,
        "pg_us": 1e6 * pg / total,
        "machine_cores": busy / (t_written + drain),
        "other_cores": busy / (t_written + drain) - (cpu + pg) / (t_written + drain),
        "integrate_alone_per_s": integrated / t_integrate,
        "integrate_alone_n": integrated,
        "verify_s": verify_s,
        "verified": report.entries_checked,
        "db_inclusion_ms_median": statistics.median(lat),
        "db_inclusion_ms_p99": sorted(lat)[int(len(lat) * 0.99) - 1],
    }


def per_call(rt: Runtime, n: int) -> dict[str, float]:
    """The per-request path, one thread: ``record_event`` (the ``"*"`` subscriber) for a
    ``payment_intent.succeeded`` event, then the insert of that transaction's entry at commit
    (``flush_pending``, what the ``before_commit`` hook runs), as a payment's two
    transactions do once each. Medians in microseconds (wall time, one thread)."""
    from strongbox.events.types import DomainEvent, RequestContext

    ctx = RequestContext(
        merchant_id="acct_bench", actor="api_key:key_bench", request_id="req_x", source_ip="::1"
    )
    rec, ins = [], []
    for i in range(n):
        pi = f"pi_c{i}"
        with rt.db.unit_of_work() as uow:
            uow.session.connection()  # a payment's transaction has begun long before
            ev = DomainEvent(
                id=f"evt_c{i}",
                type="payment_intent.succeeded",
                merchant_id="acct_bench",
                resource_type="payment_intent",
                resource_id=pi,
                object=payment_intent(pi, f"ch_c{i}", "pm_bench"),
                created=uow.clock.now(),
                context=ctx,
            )
            t0 = time.perf_counter()
            service.record_event(uow, ev)
            t1 = time.perf_counter()
            service.flush_pending(uow.session)
            t2 = time.perf_counter()
            uow.commit()
        rec.append(t1 - t0)
        ins.append(t2 - t1)
    return {
        "record_event_us": 1e6 * statistics.median(rec),
        "insert_us": 1e6 * statistics.median(ins),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--sizes", default="", help="entries per transaction (default: BATCH,1)")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="wait up to this long for the (shared) machine to be idle before each run",
    )
    ap.add_argument(
        "--per-call",
        type=int,
        default=0,
        metavar="N",
        help="only measure the per-request path (N payments' worth of single records)",
    )
    args = ap.parse_args()
    if args.per_call:
        for backend in args.backends.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                url = (
                    fresh_pg(args.pg_url, "strongbox_bench_audit")
                    if backend == "postgresql"
                    else None
                )
                rt = build_runtime(Settings(data_dir=Path(tmp) / "data", database_url=url))
                try:
                    per_call(rt, 200)  # warm-up
                    c = per_call(rt, args.per_call)
                finally:
                    rt.close()
            print(
                f"{backend:10} per call: record_event {c['record_event_us']:.1f} us, "
                f"insert of the entry at commit {c['insert_us']:.1f} us (medians of "
                f"{args.per_call})",
                flush=True,
            )
        return
    for backend in args.backends.split(","):
        sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else [args.batch, 1]
        for batch in sizes:
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
                    idle = wait_quiet(args.quiet_wait)
                    base = plain_inserts(rt, args.seconds, args.writers, batch)
                    r = run(rt, args.seconds, args.writers, batch)
                finally:
                    rt.close()
            print(
                f"{backend:10} writers={args.writers} entries/tx={batch:<4} "
                f"plain inserts/s={base:>7.0f}  written/s={r['written_per_s']:>7.0f}  "
                f"written+integrated/s={r['end_to_end_per_s']:>7.0f} "
                f"(ratio to plain {r['end_to_end_per_s'] / base:.2f}, entries {r['entries']}, "
                f"drain {r['drain_s']:.2f} s; CPU/entry: python {r['python_us']:.1f} us, "
                f"db backends {r['pg_us']:.1f} us; machine busy {r['machine_cores']:.2f} cores, "
                f"of which others {r['other_cores']:.2f}; busy before the run {idle:.2f})  "
                f"integrate alone/s="
                f"{r['integrate_alone_per_s']:>7.0f} ({r['integrate_alone_n']})  "
                f"verify {r['verified']} in {r['verify_s']:.2f} s  db inclusion proof median "
                f"{r['db_inclusion_ms_median']:.2f} ms p99 {r['db_inclusion_ms_p99']:.2f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
