"""The append path: ids drawn in batches, the canonical-JSON fast path's exact domain, the
statements that insert entries (one row, a few, ``COPY``), the integrator's tuple leaves,
and entries kept or dropped with their transaction (savepoints included)."""

from __future__ import annotations

import enum
import os
import threading
import uuid
import weakref
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, text
from sqlalchemy.dialects import sqlite

from strongbox.audit import repository as repo
from strongbox.audit import service
from strongbox.audit.models import AuditEntry
from strongbox.core.ids import has_prefix
from strongbox.db.uow import UnitOfWork
from strongbox.runtime import Runtime


def rows_of(rt: Runtime) -> list[AuditEntry]:
    with rt.db.read() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        s.expunge_all()
        return rows


# --------------------------------------------------------------------- canonical JSON


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Tag(str):
    pass


@pytest.mark.parametrize(
    "obj",
    [
        {"a": (1, 2)},  # a tuple
        {"a": Level.HIGH},  # an int subclass
        {"a": Tag("x")},  # a str subclass
        {"a": 1.5, "b": 2.0, "c": 1e21, "d": 1e-7},  # floats print differently in orjson
        {"é": 1, "\U0001f600": 2, "\ue000": 3},  # non-ASCII keys sort by UTF-16 units
        {"a": [{"b": [{"c": 2.5}]}]},  # a float deep inside
        [1, {"z": None, "a": True}],
        "just a string",
        2**53 - 1,
    ],
)
def test_canonical_matches_rfc8785_on_values_outside_the_fast_path(obj: Any) -> None:
    assert service.canonical(obj) == rfc8785.dumps(obj)


@pytest.mark.parametrize(
    "obj",
    [
        {"n": 2**53},  # beyond RFC 8785's integers
        {"u": uuid.UUID(int=1)},
        {"c": Color.RED},
        {"t": datetime(2026, 1, 1, tzinfo=UTC)},
        {1: "a non-string key"},
    ],
)
def test_values_rfc8785_refuses_are_refused_and_still_digested(obj: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(obj)
    with pytest.raises(rfc8785.CanonicalizationError):
        service.canonical(obj)
    assert len(service.digest(obj)) == 64


def test_a_non_ascii_value_keeps_the_fast_path_and_the_rfc8785_bytes() -> None:
    obj = {"description": "café ☕", "b": ["ü", {"k": "\u2028"}]}
    assert service.canonical(obj) == rfc8785.dumps(obj)


# --------------------------------------------------------------------- the leaf


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {k: st.one_of(st.none(), st.text()) for k in service.LEAF_FIELDS if k != "sequence"}
    ),
    st.integers(0, 2**40),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])),
)
def test_the_integrators_tuple_leaves_are_the_definitions_leaves(
    fields: dict[str, Any], first: int, created: datetime
) -> None:
    row = SimpleNamespace(**{**fields, "created": created})
    as_tuple = (
        7,
        row.id,
        row.created,
        row.actor,
        row.action,
        row.resource_type,
        row.resource_id,
        row.merchant_id,
        row.request_id,
        row.source_ip,
        row.outcome,
        row.before_digest,
        row.after_digest,
        row.event_id,
    )
    assert [c.name for c in repo.PENDING_COLUMNS][1:] == [
        "id", "created", "actor", "action", "resource_type", "resource_id", "merchant_id",
        "request_id", "source_ip", "outcome", "before_digest", "after_digest", "event_id",
    ]  # fmt: skip
    from strongbox.audit import merkle

    assert service.leaf_hashes([as_tuple, as_tuple], first) == [
        merkle.leaf_hash(service.leaf_bytes(row, first)),
        merkle.leaf_hash(service.leaf_bytes(row, first + 1)),
    ]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 3, 4, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
        datetime(999, 1, 2, tzinfo=UTC),
    ],
)
def test_sqlite_times_are_stored_as_sqlalchemy_stores_them(value: datetime) -> None:
    dialect = sqlite.dialect()
    process = AuditEntry.__table__.c.created.type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert repo.sqlite_time(value) == process(value)


# --------------------------------------------------------------------- recording


def test_ids_drawn_in_batches_are_unique_across_threads() -> None:
    got: list[list[str]] = [[] for _ in range(4)]

    def draw(k: int) -> None:
        for _ in range(3 * service._ID_BATCH):
            got[k].append(service._entry_id())

    threads = [threading.Thread(target=draw, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for part in got for i in part]
    assert len(set(ids)) == len(ids) == 12 * service._ID_BATCH
    assert all(has_prefix(i, "audit_entry") and len(i) == 28 for i in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_no_id_its_parent_holds() -> None:
    service._entry_id()  # the pool holds ids now
    assert service._ID_POOL
    pid = os.fork()
    if pid == 0:  # the child: its pool must start empty
        os._exit(0 if not service._ID_POOL else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("count", [1, 3, repo.COPY_MIN_ROWS, 3 * repo.COPY_MIN_ROWS])
def test_every_insert_path_stores_the_recorded_values(runtime: Runtime, count: int) -> None:
    """One row (a plain INSERT), a few (executemany), many (COPY on PostgreSQL)."""
    with runtime.db.unit_of_work() as uow:
        recorded = [
            service.record(
                uow,
                action="x.y",
                actor="api_key:key_a",
                merchant_id="acct_1",
                resource_type="thing",
                resource_id=f"th_{i}",
                request_id=f"req_{i}",
                source_ip="10.0.0.1",
                outcome="failure" if i % 2 else "success",
                before={"i": i} if i % 3 else None,
                after={"i": i, "s": 'ü\t"\\'},
                event_id=f"evt_{i}",
            )
            for i in range(count)
        ]
        uow.commit()
    stored = rows_of(runtime)
    assert len(stored) == count
    for row, rec in zip(stored, recorded, strict=True):
        for column in repo.ENTRY_COLUMNS:
            assert getattr(row, column) == rec[column], column
        assert row.leaf_index is None
        assert row.leaf_hash is None
    assert runtime.audit.integrate(runtime.db) == count
    report = runtime.audit.verify(runtime.db)
    assert report.ok, report.problems
    assert report.entries_checked == count


def test_entries_recorded_before_a_rolled_back_savepoint_commit(runtime: Runtime) -> None:
    """The ledger retries a posting in a savepoint: rolling it back must not drop the
    transaction's entries (it used to: every rollback dropped them)."""

    class Retry(Exception):
        pass

    def in_savepoint(uow: UnitOfWork) -> None:
        with uow.session.begin_nested():
            uow.session.execute(text("SELECT 1"))
            service.record(uow, action="x.inside")
            raise Retry

    with runtime.db.unit_of_work() as uow:
        service.record(uow, action="x.before")
        with pytest.raises(Retry):
            in_savepoint(uow)
        service.record(uow, action="x.after")
        uow.commit()
    # An entry recorded inside the savepoint is kept too (docs/audit.md, "Limits").
    assert [e.action for e in rows_of(runtime)] == ["x.before", "x.inside", "x.after"]


def test_a_rollback_before_any_statement_still_drops_the_entries(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as uow:
        service.record(uow, action="x.dropped")  # the first thing this session does
        uow.rollback()
        service.record(uow, action="x.kept")
        uow.commit()
    assert [e.action for e in rows_of(runtime)] == ["x.kept"]


def test_the_commit_hooks_are_listened_for_once_per_session_class(runtime: Runtime) -> None:
    for i in range(3):
        with runtime.db.unit_of_work() as uow:
            service.record(uow, action=f"x.{i}")
            cls = type(uow.session)
            uow.commit()
    assert cls in service._HOOKED
    assert event.contains(cls, "before_commit", service._insert_pending)
    assert event.contains(cls, "after_soft_rollback", service._drop_pending)
    assert len(rows_of(runtime)) == 3


# --------------------------------------------------------------------- integration


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.integers(0, 3 * repo.COPY_MIN_ROWS), st.booleans(), st.integers(1, 40)),
        min_size=1,
        max_size=6,
    )
)
def test_any_interleaving_of_writes_rollbacks_and_batches_keeps_indexes_contiguous(
    runtime: Runtime, steps: list[tuple[int, bool, int]]
) -> None:
    """Property: whatever the transaction sizes (every insert path), rollbacks and batch
    sizes, the committed entries get the indexes 0..n-1 in write order, nothing is left
    pending, and ``verify`` recomputes the same tree."""
    for count, commit, batch in steps:
        with runtime.db.unit_of_work() as uow:
            for i in range(count):
                service.record(uow, action="x.y", resource_id=f"r_{i}", after={"i": i})
            if commit:
                uow.commit()
        with runtime.db.unit_of_work() as uow:
            service.integrate(uow, batch=batch)
            uow.commit()
    runtime.audit.integrate(runtime.db)
    rows = rows_of(runtime)
    assert [r.leaf_index for r in rows] == list(range(len(rows)))
    with runtime.db.read() as s:
        assert service.pending_count(s) == 0
        assert service.tree_state(s).size == len(rows)
    report = runtime.audit.verify(runtime.db)
    assert report.ok, report.problems
    assert report.entries_checked == len(rows)


# Text PostgreSQL can store: no NUL, no lone surrogates; controls, quotes, backslashes,
# U+2028, non-BMP characters and every other escape case included.
pg_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\x00", max_codepoint=0x10FFFF
    ),
    max_size=20,
) | st.sampled_from(['"', "\\", "\x01\x1f\x7f", "\b\f\n\r\t", "\u2028\u2029", "é😀", "/"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(
        st.tuples(pg_text, pg_text, st.one_of(st.none(), pg_text), st.one_of(st.none(), pg_text)),
        min_size=1,
        max_size=5,
    ),
    micro=st.integers(0, 999_999),
)
def test_leaves_built_by_the_database_are_the_definitions_leaves(
    runtime: Runtime, values: list[tuple[str, str, str | None, str | None]], micro: int
) -> None:
    """On PostgreSQL the server builds and hashes the leaves (``to_json``, ``to_char``,
    ``sha256``); ``verify`` recomputes each one with ``leaf_of`` in Python. On SQLite this
    runs the Python path."""
    with runtime.db.unit_of_work() as uow:
        for actor, action, rtype, rid in values:
            service.record(
                uow,
                action=action or "x",
                actor=actor,
                resource_type=rtype,
                resource_id=rid,
                merchant_id=rid,
                request_id=rtype,
                source_ip=rid,
                event_id=rtype,
            )
        uow.commit()
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            text("UPDATE audit_entries SET created = :t WHERE leaf_index IS NULL"),
            {"t": datetime(2026, 5, 6, 7, 8, 9, micro, tzinfo=UTC)},
        )
        uow.commit()
    assert runtime.audit.integrate(runtime.db) >= len(values)
    report = runtime.audit.verify(runtime.db)
    assert report.ok, report.problems


def test_a_database_leaf_that_differs_from_the_definition_stops_integration(
    runtime: Runtime, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("the leaves are built by the database on PostgreSQL only")
    record_some(runtime, 3)
    wrong = repo.pg_leaf_sql(service.LEAF_FIELDS).replace(".US')", "')")  # no microseconds
    monkeypatch.setattr(repo, "pg_leaf_sql", lambda fields: wrong)
    monkeypatch.setattr(repo, "_PG_INTEGRATE", {})
    with pytest.raises(service.LeafMismatchError, match="different leaf"):
        runtime.audit.integrate(runtime.db)
    with runtime.db.read() as s:  # rolled back: nothing integrated, nothing half-written
        assert service.pending_count(s) == len(rows_of(runtime))
        assert service.tree_state(s).size == 0


def test_without_utf8_text_the_leaves_are_built_in_python(
    runtime: Runtime, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's server encoding")
    monkeypatch.setattr(repo, "server_encoding", lambda session: "SQL_ASCII")
    monkeypatch.setattr(service, "_SQL_LEAVES", weakref.WeakKeyDictionary())
    calls: list[int] = []
    original = service.leaf_hashes
    monkeypatch.setattr(
        service, "leaf_hashes", lambda rows, first: calls.append(len(rows)) or original(rows, first)
    )
    record_some(runtime, 3)
    n = runtime.audit.integrate(runtime.db)
    assert calls == [n]
    assert runtime.audit.verify(runtime.db).ok


def record_some(rt: Runtime, n: int) -> None:
    with rt.db.unit_of_work() as uow:
        for i in range(n):
            service.record(uow, action="x.y", resource_id=f"r_{i}")
        uow.commit()
