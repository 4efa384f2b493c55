"""The unit of work's queued writes: sent before reads and at commit (with COMMIT in the same
round trip on PostgreSQL), checked for the row counts they expect, dropped on rollback, and
the ``before_commit`` hooks that add the last writes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from strongbox.core.errors import ConcurrentChange
from strongbox.db import records
from strongbox.db.sql import Sql
from strongbox.db.trace import DriverTrace
from strongbox.db.uow import Database, UnitOfWork
from strongbox.runtime import Runtime

META = sa.MetaData()
PROBE = sa.Table(
    f"uow_probe_{os.getpid()}",
    META,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)
INSERT = Sql(sa.insert(PROBE).values(id=sa.bindparam("id"), n=sa.bindparam("n")))
BUMP = Sql(sa.update(PROBE).where(PROBE.c.id == sa.bindparam("k")).values(n=PROBE.c.n + 1))
READ = Sql(sa.select(PROBE.c.n).where(PROBE.c.id == sa.bindparam("id")))
BATCH = records.Batch(PROBE, ["id", "n"], chunk=2)


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Database]:
    META.create_all(runtime.db.engine)
    try:
        yield runtime.db
    finally:
        META.drop_all(runtime.db.engine)


def _stored(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {r.id: r.n for r in conn.execute(sa.select(PROBE))}


def test_queued_writes_are_sent_before_a_read_and_listed_until_then(db: Database) -> None:
    with db.unit_of_work() as uow:
        uow.queue(INSERT, {"id": "a", "n": 1})
        assert uow.queued() == [INSERT.compiled(db.engine.dialect).text]
        assert uow.fetchone(READ, {"id": "a"}) == (1,)  # the read sees its own write
        assert uow.queued() == []
        uow.commit()
    assert _stored(db) == {"a": 1}


def test_commit_sends_the_last_writes_and_runs_before_commit_hooks_once(db: Database) -> None:
    calls: list[int] = []

    def last_rows(u: UnitOfWork) -> None:
        calls.append(1)
        records.append(u, BATCH, {"id": "h1", "n": 7})

    with db.unit_of_work() as uow:
        uow.queue(INSERT, {"id": "a", "n": 1})
        uow.before_commit(last_rows)
        uow.before_commit(last_rows)  # asked twice, registered once
        for i in range(3):  # two chunks of the batch
            records.append(uow, BATCH, {"id": f"b{i}", "n": i})
        uow.commit()
    assert calls == [1]
    assert _stored(db) == {"a": 1, "b0": 0, "b1": 1, "b2": 2, "h1": 7}


def test_a_rollback_drops_queued_writes_and_batches(db: Database) -> None:
    with db.unit_of_work() as uow:
        uow.queue(INSERT, {"id": "kept", "n": 1})
        uow.commit()
    with db.unit_of_work() as uow:
        uow.queue(INSERT, {"id": "a", "n": 1})
        records.append(uow, BATCH, {"id": "b", "n": 2})
        uow.rollback()
        assert uow.queued() == []
        assert uow.batches == {}
    assert _stored(db) == {"kept": 1}


@pytest.mark.parametrize("at", ["read", "commit"])
def test_a_write_that_misses_its_row_fails_and_commits_nothing(db: Database, at: str) -> None:
    with db.unit_of_work() as uow:
        uow.queue(INSERT, {"id": "a", "n": 1})
        uow.commit()

    def write() -> None:
        with db.unit_of_work() as uow:
            uow.queue(INSERT, {"id": "b", "n": 1})
            uow.queue(BUMP, {"k": "a"}, expect=1)
            uow.queue(BUMP, {"k": "missing"}, expect=1, what="probe gone")
            if at == "read":
                uow.fetchone(READ, {"id": "a"})
            uow.commit()

    with pytest.raises(ConcurrentChange, match="probe gone"):
        write()
    assert _stored(db) == {"a": 1}


def test_on_postgresql_the_last_writes_and_commit_are_one_round_trip(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("round trips are PostgreSQL's; SQLite runs in-process")
    with db.unit_of_work() as uow:
        uow.queue(INSERT, {"id": "a", "n": 1})
        uow.commit()
    with DriverTrace(db.engine) as trace, db.unit_of_work() as uow:
        assert uow.fetchone(READ, {"id": "a"}) == (1,)  # BEGIN and the read
        before = trace.counts()
        uow.queue(BUMP, {"k": "a"})
        uow.queue(INSERT, {"id": "b", "n": 2})
        uow.commit()
        used = trace.counts() - before
    assert (used.statements, used.round_trips, used.transactions) == (3, 1, 1)
    assert _stored(db) == {"a": 2, "b": 2}


def test_on_postgresql_a_checked_write_is_checked_before_commit(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("round trips are PostgreSQL's; SQLite runs in-process")
    with db.unit_of_work() as uow:
        uow.queue(INSERT, {"id": "a", "n": 1})
        uow.commit()
    with DriverTrace(db.engine) as trace, db.unit_of_work() as uow:
        uow.fetchone(READ, {"id": "a"})
        before = trace.counts()
        uow.queue(BUMP, {"k": "a"}, expect=1)
        uow.commit()
        used = trace.counts() - before
    # the UPDATE's row count is read before COMMIT is sent: two round trips
    assert (used.round_trips, used.transactions) == (2, 1)
    assert _stored(db) == {"a": 2}
