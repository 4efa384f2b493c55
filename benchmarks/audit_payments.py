"""What the audit log adds to a payment: create-and-confirm through the API, in-process,
with the ``"*"`` audit subscriber and its loops on, and off, in the same run.

Each payment is ``POST /v1/payment_intents`` (amount, currency, pm_card_visa, confirm=true,
a unique Idempotency-Key) through FastAPI's TestClient, one client thread, with the
background workers running as in ``strongbox serve`` (outbox relay, recovery, reaper and,
when on, the audit integrator, head and retention loops). The machine is shared, so besides
payments/s the run measures **CPU per payment**: this process's CPU time (all threads:
requests, workers, integrator) and, on PostgreSQL, the CPU of the backends serving the
benchmark database (from /proc). Rounds alternate off/on, each on a fresh database; the
median of each is reported. With audit on, every payment's events must be integrated and
``verify`` must pass afterwards.

    .venv/bin/python benchmarks/audit_payments.py [--seconds 5] [--rounds 3]
        [--backends sqlite,postgresql] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from audit_append import fresh_pg  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from strongbox.api.app import create_app  # noqa: E402
from strongbox.audit import service, tasks  # noqa: E402
from strongbox.auth import service as auth  # noqa: E402
from strongbox.core.settings import Settings  # noqa: E402
from strongbox.runtime import build_runtime  # noqa: E402
from strongbox.workers.loops import build_workers  # noqa: E402

# CPU spent inside the audit log's own code, per thread, measured with time.thread_time.
AUDIT_CPU = [0.0]


def _timed(fn):  # type: ignore[no-untyped-def]
    def wrapper(*a, **kw):  # type: ignore[no-untyped-def]
        t = time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            AUDIT_CPU[0] += time.thread_time() - t

    return wrapper


service.record_event = _timed(service.record_event)  # type: ignore[method-assign]
service.integrate = _timed(service.integrate)  # type: ignore[method-assign]
service._insert_pending = _timed(service._insert_pending)  # type: ignore[method-assign]

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}
DB = "strongbox_bench_audit_pay"
HZ = os.sysconf("SC_CLK_TCK")


def pg_cpu(engine: sa.Engine) -> dict[int, float]:
    """CPU seconds of each backend connected to the benchmark database."""
    with engine.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": DB}
        ).scalars()
        out = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / HZ
    return out


def one_round(backend: str, pg_url: str, audit: bool, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_pg(pg_url, DB) if backend == "postgresql" else None
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=url,
            rate_limit_per_second=0,
            run_workers=False,
        )
        rt = build_runtime(settings, audit=audit)
        admin = sa.create_engine(normalize(pg_url)) if url else None
        with rt.db.unit_of_work() as uow:
            key = auth.create_merchant(uow, "bench").secret_key.reveal()
            uow.commit()
        workers = build_workers(rt)
        if not audit:  # the audit loops belong to the audit log: off means off
            workers.loops = [lp for lp in workers.loops if "audit" not in lp.name]
        workers.start()
        c = TestClient(create_app(rt, run_workers=False))
        c.headers["Authorization"] = f"Bearer {key}"
        counter = itertools.count()

        def pay() -> None:
            r = c.post(
                "/v1/payment_intents", data=PAY, headers={"Idempotency-Key": f"b-{next(counter)}"}
            )
            assert r.status_code == 200, r.text

        for _ in range(30):
            pay()
        pg0 = pg_cpu(admin) if admin else {}
        AUDIT_CPU[0] = 0.0
        cpu0, t0, n = time.process_time(), time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            pay()
            n += 1
        time.sleep(0.6)  # let the integrator catch up inside the window (its CPU counts)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        pg1 = pg_cpu(admin) if admin else {}
        audit_cpu = AUDIT_CPU[0]
        pg = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
        workers.stop()
        if audit:
            tasks.integrate_all(rt.db)
            report = rt.audit.verify(rt.db)
            assert report.ok, report.problems
            assert report.entries_checked >= 2 * (n + 30)
        rt.close()
        if admin:
            admin.dispose()
        return {
            "rate": n / wall,
            "cpu_ms": cpu / n * 1000,
            "pg_ms": pg / n * 1000,
            "audit_ms": audit_cpu / n * 1000,
        }


def normalize(url: str) -> str:
    from strongbox.core.settings import normalize_database_url

    return normalize_database_url(url)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    for backend in args.backends.split(","):
        res: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(args.rounds):
            for audit in (False, True):
                res[audit].append(one_round(backend, args.pg_url, audit, args.seconds))

        m = {
            (a, k): statistics.median(r[k] for r in res[a])
            for a in (False, True)
            for k in ("rate", "cpu_ms", "pg_ms", "audit_ms")
        }
        off_cpu = m[False, "cpu_ms"] + m[False, "pg_ms"]
        on_cpu = m[True, "cpu_ms"] + m[True, "pg_ms"]
        own = m[True, "audit_ms"]
        print(
            f"{backend:10} off: {m[False, 'rate']:.0f} payments/s, CPU/payment "
            f"{m[False, 'cpu_ms']:.2f} ms + PostgreSQL {m[False, 'pg_ms']:.2f} ms | "
            f"on: {m[True, 'rate']:.0f} payments/s, {m[True, 'cpu_ms']:.2f} ms + "
            f"{m[True, 'pg_ms']:.2f} ms, of which audit code {own:.3f} ms | A/B: "
            f"{(on_cpu / off_cpu - 1) * 100:+.1f}% CPU, "
            f"{(m[False, 'rate'] / m[True, 'rate'] - 1) * 100:+.1f}% time | audit code: "
            f"{own / (m[True, 'cpu_ms'] - own) * 100:.1f}% of the rest of a payment's CPU",
            flush=True,
        )


if __name__ == "__main__":
    main()
