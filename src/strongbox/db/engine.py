"""Database engines for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def json_dumps(value: Any) -> str:
    """JSON columns are written with orjson (several times faster than the standard library);
    what orjson refuses (integers beyond 64 bits) falls back to ``json.dumps``."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def json_loads(data: str | bytes | bytearray | memoryview) -> Any:
    """JSON columns are read with orjson, so every value reads as ``json.loads`` reads it:
    text with a run of 19 digits or more (orjson turns integers beyond 64 bits into floats)
    and what orjson refuses (NaN, lone surrogates) go to ``json.loads``."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def make_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if ":memory:" in url else None,
            json_serializer=json_dumps,
            json_deserializer=json_loads,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, manage transactions (so BEGIN IMMEDIATE works).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Deleted rows (destroyed CVCs, shredded keys) are overwritten, not left in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            # Commits append to the WAL; copying it back into the database (a checkpoint, with
            # its fsync) is the background checkpointer's job (``checkpoint``), not a
            # request's. This bound only stops the WAL growing when no checkpointer runs.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock up front; readers (execution option) don't.
            if conn.get_execution_options().get("strongbox_readonly"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    from strongbox.db.green import creator, ready

    engine = create_engine(
        url,
        echo=echo,
        creator=creator(url),  # waits go to the event loop on the bridged request path
        pool_size=pool_size,
        max_overflow=max(4, pool_size // 4),
        pool_recycle=1800,  # instead of a ping on every checkout
        pool_timeout=30,
        json_serializer=json_dumps,
        json_deserializer=json_loads,
    )
    # appended after the dialect's own listeners, so it runs once they have
    event.listen(engine, "connect", ready)
    return engine


#: Pages the WAL may reach before a committing connection checkpoints it itself (about 40 MB);
#: with the background checkpointer running it stays far below.
WAL_AUTOCHECKPOINT_PAGES = 10_000


def checkpoint(engine: Engine) -> int:
    """Copy the WAL back into the database without waiting for anyone (``PASSIVE``): the
    background checkpointer's pass on SQLite. Returns the WAL frames not yet copied back
    (readers still on older snapshots keep some), or 0 on PostgreSQL."""
    if not is_sqlite(engine):
        return 0
    raw = engine.raw_connection()  # outside any transaction (the driver's autocommit)
    try:
        cur = raw.cursor()
        row = cur.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        cur.close()
    finally:
        raw.close()
    if row is None:
        return 0
    _busy, log_frames, copied = (int(v) for v in row)
    return max(log_frames - copied, 0)


class WriteGate:
    """Serializes write transactions in-process on SQLite (a no-op on PostgreSQL).

    SQLite allows one writer; taking the gate before ``BEGIN IMMEDIATE`` keeps threads from
    spinning on the busy timeout and gives writes a fair, FIFO-ish order.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = threading.RLock()

    def __enter__(self) -> WriteGate:
        if self.enabled:
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._lock.release()
