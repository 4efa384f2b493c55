"""What one create-and-confirm costs: SQL statements, transactions and CPU, in-process.

    .venv/bin/python benchmarks/statements.py [--database-url postgresql://...] [-n 200]

Builds a runtime (SQLite in a temporary directory unless --database-url is given; a
PostgreSQL database is used as is, so point it at a scratch one), creates a merchant, then
sends ``n`` sequential create-and-confirm requests through the ASGI app with Starlette's
TestClient (no sockets, no background workers) and prints, per request: SQL statements by
kind, transactions (commits), connection checkouts, wall and CPU milliseconds.

Statements, round trips and transactions are counted at the driver (``db/trace.py``): the
SQLite library's trace callback, libpq's protocol trace on PostgreSQL.

For a profile of the same loop (the app runs in TestClient's portal thread, so use a sampling
profiler rather than cProfile):

    py-spy record --gil --rate 500 --format raw -o /tmp/inproc.folded -- \
        .venv/bin/python benchmarks/statements.py -n 1000
    .venv/bin/python benchmarks/profile_summary.py /tmp/inproc.folded
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.core.settings import Settings
from strongbox.db.trace import DriverTrace
from strongbox.runtime import build_runtime

BODY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("-n", type=int, default=200)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="strongbox-stmts-")
    settings = Settings(data_dir=Path(tmp), database_url=args.database_url, run_workers=False)
    rt = build_runtime(settings)
    with rt.db.unit_of_work() as uow:
        new = auth.create_merchant(uow, "statements")
        uow.commit()
    key = new.secret_key.reveal()

    app = create_app(rt, run_workers=False)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        for i in range(20):  # warm caches (compiled statements, key cache)
            r = client.post(
                "/v1/payment_intents", data=BODY, headers={**headers, "Idempotency-Key": f"w{i}"}
            )
            assert r.status_code == 200, r.text
        with DriverTrace(rt.db.engine) as trace:
            w0, c0 = time.perf_counter(), time.process_time()
            for i in range(args.n):
                r = client.post(
                    "/v1/payment_intents",
                    data=BODY,
                    headers={**headers, "Idempotency-Key": f"m{i}"},
                )
                assert r.status_code == 200, r.text
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            counts = trace.counts()

    n = args.n
    print(f"database: {rt.db.engine.dialect.name}; {n} sequential create-and-confirm requests")
    print(f"per request: {1000 * wall / n:.2f} ms wall, {1000 * cpu / n:.2f} ms CPU (this process)")
    print(
        f"per request: {counts.statements / n:.1f} SQL statements, "
        f"{counts.round_trips / n:.1f} round trips, {counts.transactions / n:.1f} transactions "
        "(counted at the driver: db/trace.py)"
    )
    print("by statement and table:")
    for kind, c in counts.by_kind.most_common():
        print(f"  {c / n:5.1f}  {kind}")
    rt.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
