"""Server CPU per request, without sockets or an HTTP client: the ASGI app called directly.

    .venv/bin/python benchmarks/inproc.py [--database-url postgresql://…/scratch] [-n 2000]
        [--request create|retrieve|unknown] [--profile out.prof]

Builds a runtime (SQLite in a temporary directory unless ``--database-url`` names a scratch
PostgreSQL database), creates a merchant, warms up, then awaits ``app(scope, receive, send)``
``n`` times on one event loop: what the server does for a request once uvicorn has parsed
it, nothing else (``benchmarks/run.sh`` measures the whole server under load). Prints CPU
and wall time per request; with ``--profile``, a cProfile of the measured loop (the payment
routes run on the loop's thread through ``core/bridge`` on both databases; cProfile follows
the greenlet switches imperfectly, so read call counts with care).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.core.settings import Settings
from strongbox.runtime import build_runtime

BODY = b"amount=2000&currency=usd&payment_method=pm_card_visa&confirm=true"


def _scope(method: str, path: str, key: str, idem: str | None, body: bytes) -> dict[str, Any]:
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
    ]
    if idem:
        headers.append((b"idempotency-key", idem.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }


async def _drive(app: Any, n: int, kind: str, key: str, pi_id: str, tag: str) -> list[int]:
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for i in range(n):
        if kind == "create":
            scope, body = _scope("POST", "/v1/payment_intents", key, f"{tag}{i}", BODY), BODY
        elif kind == "retrieve":
            scope, body = _scope("GET", f"/v1/payment_intents/{pi_id}", key, None, b""), b""
        else:
            scope, body = _scope("GET", "/v1/nope", key, None, b""), b""

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, receive, send)
    return statuses


async def _main(args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp(prefix="strongbox-inproc-")
    settings = Settings(
        data_dir=Path(tmp),
        database_url=args.database_url,
        run_workers=False,
        rate_limit_per_second=1_000_000,
        rate_limit_per_address_per_second=1_000_000,
    )
    rt = build_runtime(settings)
    with rt.db.unit_of_work() as uow:
        new = auth.create_merchant(uow, "inproc")
        uow.commit()
    key = new.secret_key.reveal()
    app = create_app(rt, run_workers=False)
    warm = await _drive(app, 200, "create", key, "", "warm")
    assert set(warm) == {200}, set(warm)
    with rt.db.reader() as uow:
        from sqlalchemy import select

        from strongbox.payments.models import PaymentIntent

        pi_id = uow.session.scalar(select(PaymentIntent.id).limit(1)) or ""
    profiler = cProfile.Profile() if args.profile else None
    w0, c0 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    statuses = await _drive(app, args.n, args.request, key, pi_id, "m")
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    expected = 404 if args.request == "unknown" else 200
    assert set(statuses) == {expected}, set(statuses)
    n = args.n
    print(
        f"{rt.db.engine.dialect.name} {args.request}: {1000 * cpu / n:.3f} ms CPU and "
        f"{1000 * wall / n:.3f} ms wall per request ({n} requests, this process)"
    )
    rt.close()
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--request", choices=["create", "retrieve", "unknown"], default="create")
    ap.add_argument("--profile")
    asyncio.run(_main(ap.parse_args()))


if __name__ == "__main__":
    main()
