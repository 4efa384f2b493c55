"""How long the background loops take to catch up once the load stops.

Run right after a load run, with the server (and its workers) still up. Polls the database
every 50 ms and reports, for each queue the background loops empty, its backlog when the
load stopped and the seconds until it was empty:

- ``audit``: audit entries committed but not yet integrated into the Merkle tree;
- ``outbox``: committed events the relay has not yet published;
- ``webhook_fanout``: committed events the webhook fan-out has not yet processed;
- ``webhook_deliveries``: deliveries still pending (none without webhook endpoints).

    .venv/bin/python benchmarks/drain.py DATABASE_URL [--since UNIX_TIME] [--timeout 30]
    .venv/bin/python benchmarks/drain.py DATABASE_URL --wait-file F &   # started before the
    ... load ...; date +%s.%N > F; wait                                  # load ends

Times count from when the load stopped: ``--since``, or the time written to the
``--wait-file`` (the script connects first and looks at the queues as soon as the file
appears, so its own start-up is not in the figures). Default: now.

Prints one JSON object (``queues``: backlog and seconds per queue, ``drained_s``: the last
of them, or null if a queue was not empty within the timeout).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sqlalchemy as sa

QUEUES = {
    "audit": "SELECT count(*) FROM audit_entries WHERE leaf_index IS NULL",
    "outbox": "SELECT count(*) FROM events WHERE published_at IS NULL",
    "webhook_fanout": (
        "SELECT count(*) FROM events e WHERE e.seq > "
        "(SELECT coalesce(max(seq), 0) FROM webhook_fanout_cursor) AND NOT EXISTS "
        "(SELECT 1 FROM processed_events p WHERE p.consumer = 'webhooks.fanout' "
        "AND p.event_id = e.id)"
    ),
    "webhook_deliveries": "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'",
}


def wait_for(path: Path, timeout: float) -> float:
    """The Unix time written to ``path``, once it appears (checked every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = path.read_text().strip()
        except OSError:
            text = ""
        if text:
            return float(text)
        time.sleep(0.01)
    raise SystemExit(f"{path} did not appear within {timeout:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--poll", type=float, default=0.05)
    ap.add_argument("--since", type=float, default=None, help="Unix time the load stopped")
    ap.add_argument("--wait-file", default=None, help="start when this file holds that time")
    ap.add_argument("--wait-timeout", type=float, default=600.0)
    args = ap.parse_args()
    url = args.url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    engine = sa.create_engine(url)
    backlog: dict[str, int] = {}
    drained: dict[str, float | None] = {}
    left: dict[str, int] = {}
    first_poll: float | None = None
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        conn.rollback()
        t0 = args.since if args.since is not None else time.time()
        if args.wait_file:
            t0 = wait_for(Path(args.wait_file), args.wait_timeout)
        while True:
            now = time.time() - t0
            for name, sql in QUEUES.items():
                if name in drained:
                    continue
                n = int(conn.execute(sa.text(sql)).scalar() or 0)
                backlog.setdefault(name, n)
                left[name] = n
                if n == 0:
                    drained[name] = round(now, 2)
            if first_poll is None:
                first_poll = round(now, 2)
            conn.rollback()  # a fresh snapshot for the next poll
            if len(drained) == len(QUEUES) or now > args.timeout:
                break
            time.sleep(args.poll)
    engine.dispose()
    for name in QUEUES:
        drained.setdefault(name, None)
    times = list(drained.values())
    out = {
        "queues": {
            name: {"backlog": backlog[name], "drained_s": drained[name], "left": left[name]}
            for name in QUEUES
        },
        "drained_s": None if None in times else max(t for t in times if t is not None),
        "timeout_s": args.timeout,
        "first_poll_s": first_poll,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
