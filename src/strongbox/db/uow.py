"""The unit of work: one database transaction per request or task.

Services receive a ``UnitOfWork``, add rows through repositories and raise domain events; they
never commit. The edge (API dependency, CLI command, worker loop) commits or rolls back once.
Events raised in a unit of work are dispatched to in-transaction subscribers (audit, ledger…)
and written to the outbox in the same transaction, so a write happens completely or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from strongbox.db.engine import WriteGate, is_sqlite

if TYPE_CHECKING:
    from strongbox.core.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")


class EventSink(Protocol):
    """Receives events raised in a unit of work (implemented by ``events.dispatcher``)."""

    def dispatch(self, uow: UnitOfWork, event: Any) -> None: ...


class UnitOfWork:
    def __init__(self, session: Session, sink: EventSink | None, clock: Clock) -> None:
        self.session = session
        self._sink = sink
        self.clock = clock
        self.raised: list[Any] = []
        self._after_commit: list[Callable[[], None]] = []
        self.committed = False

    @property
    def dialect(self) -> str:
        bind = self.session.get_bind()
        return bind.dialect.name

    def raise_event(self, event: Any) -> None:
        """Dispatch an event to in-transaction subscribers and the outbox, now."""
        self.raised.append(event)
        if self._sink is not None:
            self._sink.dispatch(self, event)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        self.session.commit()
        self.committed = True
        hooks, self._after_commit = self._after_commit, []
        for fn in hooks:
            try:
                fn()
            except Exception:
                log.exception("after-commit hook failed")

    def rollback(self) -> None:
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
        with self.read_sessionmaker() as session:
            try:
                yield session
            finally:
                session.rollback()

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
            yield UnitOfWork(session, None, self.clock)
