"""Summarize a py-spy ``--format raw`` (folded stacks) profile of the server.

    py-spy record --gil --rate 100 --format raw -o prof.folded --pid <server> --duration 20
    python benchmarks/profile_summary.py prof.folded[.gz] [--top 25] [--inclusive-in strongbox/]

Prints, as percentages of all samples: time by component (first matching frame from the leaf
up, so "sqlalchemy" means the sample was inside SQLAlchemy code), inclusive time of selected
Strongbox functions, and the top self-time functions.
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import Counter

# (label, substring of a frame "function (path:line)"): the leaf-most match wins.
COMPONENTS = [
    ("sqlite3 driver", "sqlite3/"),
    ("psycopg driver", "(psycopg"),
    ("sqlalchemy pool", "(sqlalchemy/pool/"),
    ("sqlalchemy ORM", "(sqlalchemy/orm/"),
    ("sqlalchemy core/engine", "(sqlalchemy"),
    ("alembic", "(alembic/"),
    ("startup/migrations", "strongbox/db/migrat"),
    ("imports", "<frozen importlib"),
    ("pydantic", "(pydantic"),
    ("json", "(json/"),
    ("prometheus_client", "(prometheus_client/"),
    ("tenacity", "(tenacity/"),
    ("random/secrets (ids)", "(random.py"),
    ("logging", "(logging/"),
    ("threading/locks", "(threading.py"),
    ("anyio threadpool", "(anyio/"),
    ("fastapi", "(fastapi/"),
    ("starlette", "(starlette/"),
    ("uvicorn/httptools", "(uvicorn/"),
    ("asyncio", "(asyncio/"),
    ("weakref/typing/dataclasses/etc (stdlib)", "(weakref.py"),
    ("strongbox.idempotency", "strongbox/idempotency/"),
    ("strongbox.events", "strongbox/events/"),
    ("strongbox.payments", "strongbox/payments/"),
    ("strongbox.connectors", "strongbox/connectors/"),
    ("strongbox.api", "strongbox/api/"),
    ("strongbox.auth", "strongbox/auth/"),
    ("strongbox.db", "strongbox/db/"),
    ("strongbox.core", "strongbox/core/"),
    ("strongbox.workers", "strongbox/workers/"),
]

INCLUSIVE = [
    (
        "event loop thread (uvicorn, starlette, middleware, anyio hand-off)",
        "serve (strongbox/cli/main.py",
    ),
    ("event loop thread (uvicorn workers)", "Server.serve (uvicorn/server.py"),
    ("HTTP endpoint create_payment_intent", "create_payment_intent ("),
    ("authenticate (API key)", "authenticate (strongbox/api/context.py"),
    ("read_params (form parsing)", "read_params ("),
    ("validate_params", "validate_params ("),
    ("run_write", "run_write ("),
    ("idempotency.begin", "begin (strongbox/idempotency/service.py"),
    ("idempotency.store_response", "store_response (strongbox/idempotency/service.py"),
    ("payments.intents.create", "create (strongbox/payments/intents.py"),
    ("payments.confirm.start", "start (strongbox/payments/confirm.py"),
    ("payments.gateway.execute (connector call)", "execute (strongbox/payments/gateway.py"),
    ("payments.outcomes.finish", "finish (strongbox/payments/outcomes.py"),
    ("render_intent", "render_intent ("),
    ("UnitOfWork.raise_event (dispatch)", "raise_event ("),
    ("UnitOfWork.commit", "commit (strongbox/db/uow.py"),
    ("Session.flush", "flush (sqlalchemy/orm/session.py"),
    ("Session.execute", "execute (sqlalchemy/orm/session.py"),
    ("ORM autoflush/refresh/load", "sqlalchemy/orm/loading.py"),
    ("SQL compilation (compiler.py)", "(sqlalchemy/sql/compiler.py"),
    ("SQL cache-key generation", "(sqlalchemy/sql/cache_key.py"),
    ("psycopg (driver, incl. waits while holding the GIL)", "(psycopg"),
    ("ORM unit-of-work flush machinery", "(sqlalchemy/orm/unitofwork.py"),
    ("payments.common.intent_event (event payload render)", "intent_event (strongbox/"),
    ("EventDispatcher.dispatch (outbox row)", "dispatch (strongbox/events/dispatcher.py"),
    ("new_id/random_token (SystemRandom per char)", "random_token (strongbox/core/ids.py"),
    ("observe middleware", "observe (strongbox/api/app.py"),
    ("connection pool checkout/checkin", "(sqlalchemy/pool/"),
    ("WriteGate wait", "WriteGate.__enter__"),
    ("outbox relay thread", "relay_once ("),
    ("recovery worker thread", "recover_once ("),
    ("prometheus metrics", "(prometheus_client/"),
    ("tenacity retry wrapper", "(tenacity/"),
    ("uvicorn HTTP protocol", "(uvicorn/protocols/"),
    ("anyio worker threads (sync endpoints)", "WorkerThread.run (anyio/"),
]

FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse(path: str, thread_filter: str | None) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            frames = tuple(stack.split(";"))
            if thread_filter and not any(thread_filter in fr for fr in frames[:2]):
                continue
            stacks[frames] += int(count)
    return stacks


def strip_line(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m.group('fn')} ({file})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folded")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--thread-filter")
    ap.add_argument(
        "--inclusive-in",
        metavar="SUBSTRING",
        help="also list the top functions by inclusive time whose file contains SUBSTRING "
        "(e.g. strongbox/)",
    )
    args = ap.parse_args()
    stacks = parse(args.folded, args.thread_filter)
    total = sum(stacks.values())
    if not total:
        print("no samples")
        return
    print(f"{total} samples\n")

    comp: Counter[str] = Counter()
    for frames, n in stacks.items():
        label = "other"
        for fr in reversed(frames):
            hit = next((lab for lab, sub in COMPONENTS if sub in fr), None)
            if hit:
                label = hit
                break
        comp[label] += n
    print("By component (leaf-most match):")
    for label, n in comp.most_common():
        print(f"  {100 * n / total:5.1f}%  {label}")

    print("\nInclusive (sample has the frame anywhere in its stack):")
    rows = []
    for label, sub in INCLUSIVE:
        n = sum(c for frames, c in stacks.items() if any(sub in fr for fr in frames))
        rows.append((n, label))
    for n, label in sorted(rows, reverse=True):
        if n:
            print(f"  {100 * n / total:5.1f}%  {label}")

    if args.inclusive_in:
        incl: Counter[str] = Counter()
        for frames, n in stacks.items():
            seen = {strip_line(fr) for fr in frames if args.inclusive_in in fr}
            for fn in seen:
                incl[fn] += n
        print(f"\nTop {args.top} inclusive in {args.inclusive_in}:")
        for fn, n in incl.most_common(args.top):
            print(f"  {100 * n / total:5.1f}%  {fn}")

    self_time: Counter[str] = Counter()
    for frames, n in stacks.items():
        self_time[strip_line(frames[-1])] += n
    print(f"\nTop {args.top} self time:")
    for fn, n in self_time.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {fn}")


if __name__ == "__main__":
    main()
