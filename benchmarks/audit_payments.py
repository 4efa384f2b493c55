"""What the audit log adds to a payment: create-and-confirm through the API, in-process,
with the ``"*"`` audit subscriber and its loops on, and off, in the same run.

Each payment is ``POST /v1/payment_intents`` (amount, currency, pm_card_visa, confirm=true,
a unique Idempotency-Key) through FastAPI's TestClient, with the background workers running
(outbox relay, recovery, reaper and, when on, the audit integrator and head loops). Rounds
alternate on/off (each on a fresh database) and the best round of each is kept, so machine
noise hits both alike. Audit on also checks afterwards that every payment's events were
integrated and that verify passes.

    .venv/bin/python benchmarks/audit_payments.py [--seconds 6] [--rounds 3] [--threads 4]
        [--backends sqlite,postgresql] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import threading
import time
from pathlib import Path

from audit_append import fresh_pg  # type: ignore[import-not-found]
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.audit import service
from strongbox.auth import service as auth
from strongbox.core.settings import Settings
from strongbox.runtime import build_runtime

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def one_round(backend: str, pg_url: str, audit: bool, seconds: float, threads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_pg(pg_url, "strongbox_bench_audit_pay") if backend == "postgresql" else None
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=url,
            rate_limit_per_second=0,
            threads=threads + 4,
            audit_head_interval_seconds=1.0,
        )
        rt = build_runtime(settings, audit=audit)
        with rt.db.unit_of_work() as uow:
            key = auth.create_merchant(uow, "bench").secret_key.reveal()
            uow.commit()
        counter = itertools.count()
        done = [0] * threads
        stop = threading.Event()
        app = create_app(rt, run_workers=True)
        with TestClient(app) as warm:
            warm.headers["Authorization"] = f"Bearer {key}"
            for _ in range(20):
                warm.post("/v1/payment_intents", data=PAY)

            def client(k: int) -> None:
                with TestClient(app) as c:
                    c.headers["Authorization"] = f"Bearer {key}"
                    while not stop.is_set():
                        r = c.post(
                            "/v1/payment_intents",
                            data=PAY,
                            headers={"Idempotency-Key": f"b-{next(counter)}"},
                        )
                        assert r.status_code == 200, r.text
                        done[k] += 1

            ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
            t0 = time.perf_counter()
            for t in ts:
                t.start()
            time.sleep(seconds)
            stop.set()
            for t in ts:
                t.join()
            rate = sum(done) / (time.perf_counter() - t0)
        if audit:
            service.integrate_all(rt.db)
            report = rt.audit.verify(rt.db)
            assert report.ok, report.problems
            assert report.entries_checked >= 2 * (sum(done) + 20)
        rt.close()
        return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    for backend in args.backends.split(","):
        on: list[float] = []
        off: list[float] = []
        for _ in range(args.rounds):
            off.append(one_round(backend, args.pg_url, False, args.seconds, args.threads))
            on.append(one_round(backend, args.pg_url, True, args.seconds, args.threads))
        print(
            f"{backend:10} payments/s audit off best {max(off):.0f} (rounds "
            f"{', '.join(f'{x:.0f}' for x in off)}), audit on best {max(on):.0f} (rounds "
            f"{', '.join(f'{x:.0f}' for x in on)}); audit adds "
            f"{(max(off) / max(on) - 1) * 100:.1f}% per payment",
            flush=True,
        )


if __name__ == "__main__":
    main()
