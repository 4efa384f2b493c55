"""The unit of work: one database transaction per request or task.

Services receive a ``UnitOfWork``, add rows through repositories and raise domain events; they
never commit. The edge (API dependency, CLI command, worker loop) commits or rolls back once.
Events raised in a unit of work are dispatched to in-transaction subscribers (audit, ledger…)
and written to the outbox in the same transaction, so a write happens completely or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from strongbox.db import records
from strongbox.db.engine import WriteGate, is_sqlite
from strongbox.db.sql import Queued, Sql, log_statement, run_queued

if TYPE_CHECKING:
    from strongbox.core.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")


class EventSink(Protocol):
    """Receives events raised in a unit of work (implemented by ``events.dispatcher``)."""

    def dispatch(self, uow: UnitOfWork, event: Any) -> None: ...


class UnitOfWork:
    def __init__(
        self, session: Session, sink: EventSink | None, clock: Clock, *, read_only: bool = False
    ) -> None:
        self.session = session
        self.read_only = read_only
        self._sink = sink
        self.clock = clock
        self.raised: list[Any] = []
        self._after_commit: list[Callable[[], None]] = []
        self.committed = False
        self._queued: list[Queued] = []
        self._raw: Any = None
        self._bind = session.get_bind()
        #: Rows this unit of work loaded or wrote through prebuilt statements, by (kind, id):
        #: one object per row, as the session's identity map gives for ORM reads.
        self.records: dict[tuple[str, str], Any] = {}
        #: Rows of insert-only tables waiting for the next flush (``records.Batch``).
        self.batches: dict[Any, list[dict[str, Any]]] = {}
        self._before_commit: list[Callable[[UnitOfWork], None]] = []

    @property
    def dialect(self) -> str:
        return str(self._bind.dialect.name)

    # ---- prebuilt statements on the driver connection (db/sql.py)

    def raw(self) -> Any:
        """The driver connection of this transaction (begun, as the session begins it)."""
        if self._raw is None:
            self._raw = self.session.connection().connection.dbapi_connection
        return self._raw

    def queue(
        self, sql: Sql, params: Mapping[str, Any], *, expect: int | None = None, what: str = ""
    ) -> None:
        """A write sent with the others before the next read, flush or commit; ``expect``:
        the row count it must touch, else ``ConcurrentChange``."""
        c = sql.compiled(self._bind.dialect)
        self._queued.append(Queued(c, c.params(params), expect=expect, what=what))

    def queue_many(self, sql: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        c = sql.compiled(self._bind.dialect)
        self._queued.append(Queued(c, [c.params(r) for r in rows], many=True))

    def execute(self, sql: Sql, params: Mapping[str, Any]) -> int:
        """Run now (after the queued writes); the row count."""
        c = sql.compiled(self._bind.dialect)
        cur = self._cursor()
        values = c.params(params)
        log_statement(c.text, values)
        cur.execute(c.text, values)
        return int(cur.rowcount)

    def fetchone(self, sql: Sql, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        c = sql.compiled(self._bind.dialect)
        cur = self._cursor()
        values = c.params(params)
        log_statement(c.text, values)
        cur.execute(c.text, values)
        row = cur.fetchone()
        return None if row is None else c.row(row)

    def fetchall(self, sql: Sql, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        c = sql.compiled(self._bind.dialect)
        cur = self._cursor()
        values = c.params(params)
        log_statement(c.text, values)
        cur.execute(c.text, values)
        return [c.row(r) for r in cur.fetchall()]

    def queued(self) -> list[str]:
        """The writes not sent yet (for tests and diagnostics): queued statements, and an
        ``INSERT INTO <table>`` for each new record."""
        new = [
            f"INSERT INTO {rt.table.name}"
            for rt, _obj, snap, _locked in self.records.values()
            if snap is None
        ]
        return [q.compiled.text for q in self._queued] + new

    def _cursor(self) -> Any:
        records.flush(self)  # a read sees this unit of work's own changes
        records.flush_batches(self)
        self.flush_queued()
        return self.raw().cursor()

    def flush_queued(self) -> None:
        if self._queued:
            queued, self._queued = self._queued, []
            run_queued(self.raw(), queued, pipeline=self.dialect == "postgresql")

    def raise_event(self, event: Any) -> None:
        """Dispatch an event to in-transaction subscribers and the outbox, now."""
        self.raised.append(event)
        if self._sink is not None:
            self._sink.dispatch(self, event)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)

    def before_commit(self, fn: Callable[[UnitOfWork], None]) -> None:
        """Run ``fn`` first thing at commit, so the writes it adds go out with the rest
        (the audit log's entries); registered once however often it is asked."""
        if fn not in self._before_commit:
            self._before_commit.append(fn)

    def flush(self) -> None:
        self.session.flush()
        records.flush(self)
        records.flush_batches(self)
        self.flush_queued()

    def commit(self) -> None:
        for before in self._before_commit:
            before(self)
        self.session.flush()
        records.flush(self)
        records.flush_batches(self)
        if (
            self._raw is not None
            and self.dialect == "postgresql"
            and all(q.expect is None for q in self._queued)
        ):
            # The last writes and COMMIT in one pipeline: one round trip. The session's own
            # commit below then finds the connection idle, and the driver sends nothing.
            # (A write whose row count must be checked is checked before COMMIT is sent.)
            queued, self._queued = self._queued, []
            run_queued(self._raw, queued, pipeline=True, commit=True)
        else:
            self.flush_queued()
        self.session.commit()
        self.committed = True
        hooks, self._after_commit = self._after_commit, []
        for fn in hooks:
            try:
                fn()
            except Exception:
                log.exception("after-commit hook failed")

    def rollback(self) -> None:
        self._queued.clear()
        self.batches.clear()
        self.session.rollback()
        self._after_commit.clear()


class Database:
    """Owns the engine, session factory, the SQLite write gate and the event sink."""

    def __init__(self, engine: Engine, clock: Clock, sink: EventSink | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.sink = sink
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
        self.read_sessionmaker = sessionmaker(
            bind=engine.execution_options(strongbox_readonly=True),
            expire_on_commit=False,
            autoflush=False,
        )
        self.write_gate = WriteGate(enabled=is_sqlite(engine))

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A transaction; the caller must ``commit()``; anything else rolls back."""
        with self.write_gate, self.sessionmaker() as session:
            uow = UnitOfWork(session, self.sink, self.clock)
            try:
                yield uow
            finally:
                if not uow.committed:
                    session.rollback()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (no write gate: SQLite WAL readers don't block the writer)."""
        # closing the session returns its connection to the pool, whose reset rolls the read
        # transaction back (an explicit rollback first cost a second pass of the same work)
        with self.read_sessionmaker() as session:
            yield session

    def ping(self) -> bool:
        """True if the database answers a trivial query."""
        try:
            with self.read() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
        return True

    @contextmanager
    def reader(self) -> Iterator[UnitOfWork]:
        """A read-only unit of work for service read methods; it is never committed."""
        with self.read() as session:
            yield UnitOfWork(session, None, self.clock, read_only=True)
