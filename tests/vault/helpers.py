"""Helpers for vault tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from strongbox.db.uow import UnitOfWork
from strongbox.events.types import DomainEvent
from strongbox.runtime import Runtime


def record_committed_events(rt: Runtime, pattern: str) -> list[DomainEvent]:
    """Events matching ``pattern`` whose transaction committed."""
    seen: list[DomainEvent] = []

    def handler(uow: UnitOfWork, event: DomainEvent) -> None:
        uow.after_commit(lambda: seen.append(event))

    rt.dispatcher.subscribe(pattern, handler, name="test-recorder")
    return seen


def sqlite_file_bytes(rt: Runtime) -> bytes:
    """The SQLite database file (and its WAL) after a full checkpoint."""
    path = Path(rt.settings.data_dir) / "strongbox.db"
    conn = sqlite3.connect(path)
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy is not None
        assert busy[0] == 0, "checkpoint blocked"
    finally:
        conn.close()
    out = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        out += wal.read_bytes()
    return out


def form_card(number: str, cvc: str | None = "123") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "card",
        "card[number]": number,
        "card[exp_month]": "12",
        "card[exp_year]": "2034",
    }
    if cvc is not None:
        body["card[cvc]"] = cvc
    return body
