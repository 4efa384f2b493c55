"""Audit loops: integrate committed entries into the tree; sign tree heads periodically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strongbox.audit import service

if TYPE_CHECKING:
    from strongbox.runtime import Runtime
    from strongbox.workers.loops import Loop


def audit_loops(rt: Runtime) -> list[Loop]:
    from strongbox.workers.loops import Loop

    batch = 5000

    def integrate() -> int:
        with rt.db.unit_of_work() as uow:
            n = service.integrate(uow, batch=batch)
            uow.commit()
        return n if n >= batch else 0  # a full batch: more may be waiting

    def sign() -> int:
        rt.audit.sign(rt.db)
        return 0

    def retention() -> int:
        rt.audit.archive(rt.db)
        return 0

    interval = min(rt.settings.worker_interval_seconds, 0.5)
    return [
        Loop("audit-integrate", integrate, interval, min_pause=0.02),
        Loop("audit-heads", sign, rt.settings.audit_head_interval_seconds),
        Loop("audit-retention", retention, 24 * 3600.0),
    ]
