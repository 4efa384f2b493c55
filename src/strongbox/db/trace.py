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


class DriverTrace:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._sqlite_counts = Counts()
        self._last_sqlite = ""
        self._file: Any = None
        self._traced: list[Any] = []
        self._final: Counts | None = None

    # ---- lifecycle

    def __enter__(self) -> DriverTrace:
        if not self.sqlite:
            self._file = tempfile.NamedTemporaryFile(prefix="strongbox-pqtrace-", delete=False)
        event.listen(self.engine, "checkout", self._on_checkout)
        event.listen(self.engine, "checkin", self._on_checkin)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "checkout", self._on_checkout)
        event.remove(self.engine, "checkin", self._on_checkin)
        for conn in self._traced:
            self._untrace(conn)
        self._traced.clear()
        if self._file is not None:
            self._final = _parse_pq_trace(self._file.name)
            self._file.close()
            os.unlink(self._file.name)

    def _on_checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if self.sqlite:
            dbapi_conn.set_trace_callback(self._sqlite_statement)
        else:
            from psycopg import pq

            dbapi_conn.pgconn.trace(self._file.fileno())
            dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        self._traced.append(dbapi_conn)

    def _on_checkin(self, dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn in self._traced:
            self._untrace(dbapi_conn)
            self._traced.remove(dbapi_conn)

    def _untrace(self, dbapi_conn: Any) -> None:
        if self.sqlite:
            dbapi_conn.set_trace_callback(None)
        else:
            dbapi_conn.pgconn.untrace()

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
        """Everything counted since the trace began (until it ended)."""
        if self._final is not None:
            return self._final
        if self.sqlite:
            c = self._sqlite_counts
            return Counts(c.statements, c.round_trips, c.transactions, Counter(c.by_kind))
        return _parse_pq_trace(self._file.name)


def _kind(sql: str) -> str:
    """``INSERT payment_intents``, ``SELECT ledger_transfers``, ``COMMIT``."""
    m = _WORD.match(sql)
    word = m.group(1).upper() if m else "?"
    table = _TABLE.search(sql)
    return f"{word} {table.group(1)}" if table and word != "WITH" else word


_QUERY = re.compile(r'^F\t\d+\tQuery\t "(.*)"$')
_PARSE = re.compile(r'^F\t\d+\tParse\t "([^"]*)" "(.*?)" \d+')
_BIND = re.compile(r'^F\t\d+\tBind\t "[^"]*" "([^"]*)"')
_COMPLETE = re.compile(r'^B\t\d+\tCommandComplete\t "(\w+)')


def _parse_pq_trace(path: str) -> Counts:
    counts = Counts()
    prepared: dict[str, str] = {}  # statement name -> its kind (psycopg prepares hot ones)
    current = "?"
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
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
