"""The audit integrator loop: a pass takes the backlog, and runs again at once while there
is one, so the log keeps up with the write rate."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from strongbox.audit import service
from strongbox.audit.models import AuditEntry
from strongbox.runtime import Runtime
from strongbox.workers import audit


@pytest.fixture(autouse=True)
def integrated(runtime: Runtime) -> None:
    """Start with nothing pending (the vault's first keys are audited at start-up)."""
    runtime.audit.integrate(runtime.db)


def record(rt: Runtime, n: int) -> None:
    with rt.db.unit_of_work() as uow:
        for i in range(n):
            service.record(uow, action="x.y", resource_id=f"r_{i}")
        uow.commit()


def pending(rt: Runtime) -> int:
    with rt.db.read() as s:
        return service.pending_count(s)


def test_a_small_backlog_is_integrated_in_one_pass_and_the_loop_waits(runtime: Runtime) -> None:
    record(runtime, audit.BACKLOG - 1)
    assert audit.integrate_pass(runtime.db) == 0  # below a backlog: wait for the interval
    assert pending(runtime) == 0


def test_a_backlog_is_taken_in_passes_that_run_again_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "INTEGRATE_BATCH", 40)
    monkeypatch.setattr(audit, "INTEGRATE_BATCH_SQLITE", 40)
    monkeypatch.setattr(audit, "BACKLOG", 25)
    record(runtime, 100)
    # Full passes say "more may be waiting"; the last one, below a backlog, says "wait".
    assert [audit.integrate_pass(runtime.db) for _ in range(3)] == [40, 40, 0]
    assert pending(runtime) == 0
    with runtime.db.read() as s:
        indexes = list(s.scalars(select(AuditEntry.leaf_index).order_by(AuditEntry.seq)))
    assert indexes == list(range(len(indexes)))
    assert len(indexes) >= 100
    assert runtime.audit.verify(runtime.db).ok


def test_batches_are_smaller_on_sqlite_where_a_pass_holds_the_write_lock() -> None:
    assert audit.INTEGRATE_BATCH_SQLITE < audit.INTEGRATE_BATCH
    assert audit.BACKLOG < audit.INTEGRATE_BATCH_SQLITE


def test_the_loop_runs_integrate_pass(runtime: Runtime) -> None:
    loop = audit.audit_loops(runtime)[0]
    assert loop.name == "strongbox-audit-integrate"
    assert loop.interval <= audit.INTERVAL_SECONDS
    record(runtime, 3)
    assert loop.fn() == 0
    assert pending(runtime) == 0
