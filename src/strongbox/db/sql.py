"""Prebuilt statements run on the driver's own connection: the SQL of a payment's path.

A statement is written once with SQLAlchemy Core (``Sql(insert(table), keys=[...])``) and
compiled once per dialect: its text, the order of its parameters, and the type processors of
its parameters and result columns (UTC datetimes, JSON, booleans on SQLite). Running it is
then one driver call on the connection the unit of work's session holds, in its transaction,
without SQLAlchemy's per-execution work (cache keys, execution contexts, result objects),
which measured three to four times the driver call itself (benchmarks/statements.py).

Writes may be queued on the unit of work (``UnitOfWork.queue``) and sent together: on
PostgreSQL in one pipeline (one round trip for all of them), on SQLite one after another
in-process. A queued write can carry the row count it must touch; a write that touches
another count raises ``ConcurrentChange`` and the whole unit of work rolls back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import ClauseElement

from strongbox.core.errors import ConcurrentChange

Processor = Callable[[Any], Any]

#: Statements and their parameters at DEBUG, as SQLAlchemy's engine logger shows its own
#: (values are what reaches the database: card data only ever sealed).
statement_log = logging.getLogger("strongbox.db.sql")


def log_statement(text: str, params: Any) -> None:
    if statement_log.isEnabledFor(logging.DEBUG):
        statement_log.debug("%s %r", text, params)


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement for one dialect: what the driver runs, and how values are converted."""

    text: str
    keys: tuple[str, ...]  # parameter names, in the driver's positional order
    binds: tuple[tuple[int, Processor], ...]  # positions whose value needs converting
    results: tuple[Processor | None, ...]  # per result column; empty when none converts
    fixed: Mapping[str, Any]  # values the statement carries itself (``one_of``)

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        out = [values[k] if k not in fixed else fixed[k] for k in self.keys]
        for i, fn in self.binds:
            if out[i] is not None:
                out[i] = fn(out[i])
        return out

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.results:
            return tuple(raw)
        return tuple(
            v if fn is None or v is None else fn(v) for v, fn in zip(raw, self.results, strict=True)
        )


class Sql:
    """A statement built once, compiled once per dialect (see the module docstring).

    ``keys``: the columns an INSERT or UPDATE … VALUES sets, in any order (Core would
    otherwise bind every column of the table).
    """

    def __init__(self, stmt: ClauseElement, *, keys: Iterable[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = list(keys) if keys is not None else None
        self._by_dialect: dict[str, Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._by_dialect.get(dialect.name) or self._compile(dialect)
                self._by_dialect[dialect.name] = found
        return found

    def _compile(self, dialect: Dialect) -> Compiled:
        positional = _positional(dialect)
        c: Any = self.stmt.compile(dialect=positional, column_keys=self.column_keys)
        keys = tuple(c.positiontup or ())
        fixed = {k: bp.value for k, bp in c.binds.items() if not bp.required and k in keys}
        binds: list[tuple[int, Processor]] = []
        for i, key in enumerate(keys):
            bp = c.binds[key]
            fn = bp.type.dialect_impl(dialect).bind_processor(dialect)
            if fn is not None:
                binds.append((i, fn))
        results: list[Processor | None] = []
        for col in getattr(self.stmt, "selected_columns", ()):
            results.append(col.type.dialect_impl(dialect).result_processor(dialect, None))
        returning = getattr(self.stmt, "_returning", ())
        for col in returning:
            results.append(col.type.dialect_impl(dialect).result_processor(dialect, None))
        if not any(results):
            results = []
        return Compiled(c.string, keys, tuple(binds), tuple(results), fixed)


def one_of(column: Any, values: Sequence[Any], name: str) -> Any:
    """``column IN (values)`` for a fixed list, as plain binds (an ``in_`` list would need
    SQLAlchemy's expansion at every execution)."""
    return or_(*(column == bindparam(f"{name}_{i}", value=v) for i, v in enumerate(values)))


_POSITIONAL: dict[str, Dialect] = {}


def _positional(dialect: Dialect) -> Dialect:
    """The same dialect with a positional paramstyle (psycopg's ``%s``, SQLite's ``?``)."""
    if dialect.paramstyle in ("qmark", "format", "numeric"):
        return dialect
    found = _POSITIONAL.get(dialect.name)
    if found is None:
        found = type(dialect)(paramstyle="format")  # type: ignore[call-arg]
        _POSITIONAL[dialect.name] = found
    return found


@dataclass(slots=True)
class Queued:
    compiled: Compiled
    params: list[Any] | list[list[Any]]
    many: bool = False
    expect: int | None = None
    what: str = ""


def run_queued(raw: Any, queued: list[Queued], *, pipeline: bool, commit: bool = False) -> None:
    """Send queued writes on the driver connection ``raw`` (in a pipeline on PostgreSQL) and
    check the row counts they were queued with; with ``commit`` (a pipeline), the COMMIT goes
    in the same round trip, after them."""
    checks: list[tuple[Any, Queued]] = []
    for q in queued:
        log_statement(q.compiled.text, q.params)
    if pipeline:
        with raw.pipeline():
            for q in queued:
                cur = raw.cursor()
                if q.many:
                    cur.executemany(q.compiled.text, q.params)
                else:
                    cur.execute(q.compiled.text, q.params)
                if q.expect is not None:
                    checks.append((cur, q))
            if commit:
                # As a statement of the pipeline, not ``raw.commit()``: that would sync the
                # pipeline on its own and the pipeline's exit sync again (two round trips).
                # The driver then finds the transaction over and its commit sends nothing.
                raw.cursor().execute("COMMIT")
    else:
        cur = raw.cursor()
        for q in queued:
            if q.many:
                cur.executemany(q.compiled.text, q.params)
            else:
                cur.execute(q.compiled.text, q.params)
                if q.expect is not None and cur.rowcount != q.expect:
                    raise ConcurrentChange(q.what or "a row changed under this transaction")
    for cur, q in checks:
        if cur.rowcount != q.expect:
            raise ConcurrentChange(q.what or "a row changed under this transaction")
