"""Audit loops: integrate committed entries into the tree; sign tree heads periodically.

The integrator keeps up with any write rate the database can take: a pass takes the whole
backlog (up to ``INTEGRATE_BATCH`` entries, one transaction of five statements), and a pass
that found a backlog (``BACKLOG`` entries or more) is followed by the next one at once
instead of after the interval. At low rates it runs every 0.5 s on small batches, so its
per-pass cost stays off the payment path's CPU. On SQLite a pass holds the single write
lock, so its batches are smaller there (payments wait for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strongbox.audit import service

if TYPE_CHECKING:
    from strongbox.db.uow import Database
    from strongbox.runtime import Runtime
    from strongbox.workers.loops import Loop

INTEGRATE_BATCH = 20_000
"""Most entries one pass integrates on PostgreSQL (about a second of work on a loaded 2-core
machine; a larger backlog takes several passes back to back)."""
INTEGRATE_BATCH_SQLITE = 2_000
"""On SQLite a pass holds the write lock that every payment needs: a few tens of ms at most."""
BACKLOG = 500
"""A pass that integrated at least this many entries runs again at once (after the loop's
short pause) instead of waiting for the interval."""
INTERVAL_SECONDS = 0.5


def integrate_pass(db: Database) -> int:
    """One integration pass in its own transaction: the entries it integrated if that was a
    backlog (the loop runs again at once), else 0 (the loop waits for its interval)."""
    batch = INTEGRATE_BATCH_SQLITE if db.is_sqlite else INTEGRATE_BATCH
    with db.unit_of_work() as uow:
        n = service.integrate(uow, batch=batch)
        uow.commit()
    return n if n >= BACKLOG else 0


def audit_loops(rt: Runtime) -> list[Loop]:
    from strongbox.workers.loops import Loop

    def sign() -> int:
        rt.audit.sign(rt.db)
        return 0

    def retention() -> int:
        rt.audit.archive(rt.db)
        return 0

    interval = min(rt.settings.worker_interval_seconds, INTERVAL_SECONDS)
    return [
        Loop("audit-integrate", lambda: integrate_pass(rt.db), interval, min_pause=0.02),
        Loop("audit-heads", sign, rt.settings.audit_head_interval_seconds),
        Loop("audit-retention", retention, 24 * 3600.0),
    ]
