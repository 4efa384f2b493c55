"""What reaches the database, counted at the driver: statements, round trips, transactions.

``DriverTrace(engine)`` watches every connection the engine hands out while it is open:
SQLite through ``sqlite3``'s trace callback (every statement the library runs, ``BEGIN`` and
``COMMIT`` included; in-process, so a statement is a "round trip" of its own), PostgreSQL
through libpq's protocol trace (``PQtrace``): a statement is a simple ``Query`` or an
extended-protocol ``Execute``, a round trip is each ``ReadyForQuery`` the client waits for
(a whole pipeline is one), a transaction is each ``COMMIT`` or ``ROLLBACK`` the server
completes. Whatever path a statement takes (the ORM, Core, the prebuilt statements of
``db/sql.py``) it is counted, which is what the payment path's budget test needs. (SQLite
repeats a statement's text when it starts a trigger; consecutive repeats count once.)
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

_WORD = re.compile(r"^\s*(\w+)", re.I)
_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+\"?(\w+)", re.I)


@dataclass
class Counts:
    statements: int = 0
    round_trips: int = 0
    transactions: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.statements - other.statements,
            self.round_trips - other.round_trips,
            self.transactions - other.transactions,
            self.by_kind - other.by_kind,
        )


class _Traced:
    """One PostgreSQL connection's trace: its own file (libpq writes it through a buffered
    stream), and the statements psycopg had prepared on it before (their names are the
    connection's own)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn  # held, so that its id() is not reused while traced
        self.file: Any = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by close()
            prefix="strongbox-pqtrace-", delete=False
        )
        self.known: dict[str, str] = {}

    def close(self) -> None:
        self.file.close()
        os.unlink(self.file.name)


class DriverTrace:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._sqlite_counts = Counts()
        self._last_sqlite = ""
        self._traces: dict[int, _Traced] = {}  # by id() of the driver connection
        self._out: dict[int, Any] = {}  # driver connections checked out now, traced
        self._final: Counts | None = None

    # ---- lifecycle

    def __enter__(self) -> DriverTrace:
        event.listen(self.engine, "checkout", self._on_checkout)
        event.listen(self.engine, "checkin", self._on_checkin)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "checkout", self._on_checkout)
        event.remove(self.engine, "checkin", self._on_checkin)
        for conn in self._out.values():
            self._untrace(conn)
        self._out.clear()
        if not self.sqlite:
            self._final = self._pg_counts()
            for t in self._traces.values():
                t.close()

    def _on_checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if self.sqlite:
            dbapi_conn.set_trace_callback(self._sqlite_statement)
        else:
            t = self._traces.get(id(dbapi_conn))
            if t is None:
                t = self._traces[id(dbapi_conn)] = _Traced(dbapi_conn)
                # Statements psycopg prepared on this connection before the trace: their
                # names appear in the trace without their text, so note what each one is
                # (a libpq call of its own, outside psycopg's transaction handling).
                res = dbapi_conn.pgconn.exec_(b"SELECT name, statement FROM pg_prepared_statements")
                for i in range(res.ntuples):
                    name, text = res.get_value(i, 0), res.get_value(i, 1)
                    if name is not None and text is not None:
                        t.known[name.decode()] = _kind(text.decode())
            self._trace(dbapi_conn, t)
        self._out[id(dbapi_conn)] = dbapi_conn

    def _on_checkin(self, dbapi_conn: Any, _record: Any) -> None:
        if self._out.pop(id(dbapi_conn), None) is not None:
            self._untrace(dbapi_conn)

    @staticmethod
    def _trace(dbapi_conn: Any, t: _Traced) -> None:
        from psycopg import pq

        dbapi_conn.pgconn.trace(t.file.fileno())
        dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def _untrace(self, dbapi_conn: Any) -> None:
        if self.sqlite:
            dbapi_conn.set_trace_callback(None)
        else:
            dbapi_conn.pgconn.untrace()  # flushes what libpq buffered

    # ---- counting

    def _sqlite_statement(self, sql: str) -> None:
        # SQLite calls back again, with the same text, when a statement starts a trigger
        # (the ledger's overflow checks): one statement, counted once.
        if sql == self._last_sqlite:
            return
        self._last_sqlite = sql
        c = self._sqlite_counts
        kind = _kind(sql)
        c.statements += 1
        c.round_trips += 1
        c.by_kind[kind] += 1
        if kind in ("COMMIT", "ROLLBACK"):
            c.transactions += 1

    def counts(self) -> Counts:
        """Everything counted since the trace began (until it ended). On PostgreSQL, call it
        from the thread that uses the connections checked out (between statements): their
        buffered traces are flushed first."""
        if self._final is not None:
            return self._final
        if self.sqlite:
            c = self._sqlite_counts
            return Counts(c.statements, c.round_trips, c.transactions, Counter(c.by_kind))
        for key, conn in self._out.items():
            conn.pgconn.untrace()
            self._trace(conn, self._traces[key])
        return self._pg_counts()

    def _pg_counts(self) -> Counts:
        total = Counts()
        for t in self._traces.values():
            c = _parse_pq_trace(t.file.name, t.known)
            total.statements += c.statements
            total.round_trips += c.round_trips
            total.transactions += c.transactions
            total.by_kind.update(c.by_kind)
        return total


def _kind(sql: str) -> str:
    """``INSERT payment_intents``, ``SELECT ledger_transfers``, ``COMMIT``."""
    m = _WORD.match(sql)
    word = m.group(1).upper() if m else "?"
    table = _TABLE.search(sql)
    return f"{word} {table.group(1)}" if table and word != "WITH" else word


_QUERY = re.compile(r'^F\t\d+\tQuery\t "(.*)"$', re.S)
_PARSE = re.compile(r'^F\t\d+\tParse\t "([^"]*)" "(.*?)" \d+', re.S)
_BIND = re.compile(r'^F\t\d+\tBind\t "[^"]*" "([^"]*)"')
_COMPLETE = re.compile(r'^B\t\d+\tCommandComplete\t "(\w+)')


def _parse_pq_trace(path: str, known: dict[str, str]) -> Counts:
    counts = Counts()
    prepared = dict(known)  # statement name -> its kind (psycopg prepares hot ones)
    current = "?"
    for line in _messages(path):
        if m := _QUERY.match(line):
            counts.statements += 1
            counts.by_kind[_kind(m.group(1))] += 1
        elif m := _PARSE.match(line):
            prepared[m.group(1)] = _kind(m.group(2))
        elif m := _BIND.match(line):
            current = prepared.get(m.group(1), "?")
        elif line.startswith("F\t") and "\tExecute\t" in line:
            counts.statements += 1
            counts.by_kind[current] += 1
        elif line.startswith("B\t") and "\tReadyForQuery\t" in line:
            counts.round_trips += 1
        elif (m := _COMPLETE.match(line)) and m.group(1) in ("COMMIT", "ROLLBACK"):
            counts.transactions += 1
    return counts


def _messages(path: str) -> Iterator[str]:
    """The trace's messages, one per item (a statement's text may span lines)."""
    message = ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(("F\t", "B\t")):
                if message:
                    yield message
                message = line.rstrip("\n")
            else:
                message += "\n" + line.rstrip("\n")
    if message:
        yield message
