"""The audit log's edge functions: ``integrate_all`` owns the commits of integration."""

from __future__ import annotations

from sqlalchemy import event, func, select

from strongbox.audit import service, tasks
from strongbox.audit.models import AuditEntry
from strongbox.runtime import Runtime


def test_integrate_all_commits_one_batch_at_a_time_until_none_is_left(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as uow:
        for i in range(5):
            service.record(uow, action=f"strongbox.test.{i}", actor="cli")
        uow.commit()
    commits: list[int] = []

    def on_commit(_conn: object) -> None:
        commits.append(1)

    event.listen(runtime.db.engine, "commit", on_commit)
    try:
        assert tasks.integrate_all(runtime.db, batch=2) == 5
    finally:
        event.remove(runtime.db.engine, "commit", on_commit)
    assert len(commits) == 3  # 2 + 2 + 1: each batch committed on its own
    with runtime.db.read() as s:
        pending = s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.leaf_index.is_(None))
        )
        assert pending == 0
        assert service.tree_state(s).size == 5
    assert tasks.integrate_all(runtime.db, batch=2) == 0


def test_integrate_leaves_the_commit_to_its_caller(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as uow:
        service.record(uow, action="strongbox.test.one", actor="cli")
        uow.commit()
    with runtime.db.unit_of_work() as uow:
        assert service.integrate(uow) == 1
        uow.rollback()
    with runtime.db.read() as s:
        assert service.pending_count(s) == 1
