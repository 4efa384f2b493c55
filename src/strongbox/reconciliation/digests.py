"""SHA-256 digests of the critical tables, per table and per day of data.

A table's rows of one day (UTC, by ``created``) are read in key order (``id``), each row
serialised as the RFC 8785 canonical JSON of the list of its digested columns' values
(datetimes as ISO 8601 UTC with microseconds), one line each, and hashed together. The
serialisation does not depend on the database: a PostgreSQL primary and an SQLite copy of the
same rows have the same digests.

Each table is digested over the columns that never change once the row is written (the money
and identity facts); state that legitimately moves on (a payment's status, an attempt's
outcome, an idempotency key's stored response, an audit entry's leaf index) is left out, so
a digest changes only when something that must never change did. ``ledger_transfers`` is
immutable (database triggers) and is digested whole.

``prunable`` tables lose old rows by design (idempotency keys after their TTL, audit entries
after archiving): a sealed day of theirs whose rows are all gone is reported as pruned, not
as changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Column, MetaData, Table, select
from sqlalchemy.engine import Connection

from strongbox.audit.service import canonical
from strongbox.db.metadata import target_metadata


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[str, ...]  # digested, in this order; ``id`` first (the key)
    prunable: bool = False


TABLES: Final = (
    TableSpec(
        "payment_intents",
        ("id", "merchant_id", "livemode", "amount", "currency", "capture_method", "created"),
    ),
    TableSpec(
        "payment_attempts",
        (
            "id",
            "merchant_id",
            "payment_intent_id",
            "kind",
            "connector",
            "gateway_idempotency_key",
            "amount",
            "currency",
            "capture",
            "refund_id",
            "created",
        ),
    ),
    TableSpec(
        "refunds", ("id", "merchant_id", "payment_intent_id", "amount", "currency", "created")
    ),
    TableSpec(
        "ledger_transfers",
        (
            "id",
            "txn_id",
            "merchant_id",
            "debit_account_id",
            "credit_account_id",
            "amount",
            "currency",
            "kind",
            "pending_id",
            "timeout_at",
            "code",
            "source",
            "linked",
            "metadata",
            "created",
        ),
    ),
    TableSpec("ledger_accounts", ("id", "merchant_id", "purpose", "currency", "flags", "created")),
    TableSpec(
        "audit_entries",
        (
            "id",
            "merchant_id",
            "actor",
            "action",
            "resource_type",
            "resource_id",
            "request_id",
            "source_ip",
            "outcome",
            "before_digest",
            "after_digest",
            "event_id",
            "created",
        ),
        prunable=True,
    ),
    TableSpec(
        "idempotency_keys",
        (
            "id",
            "merchant_id",
            "key",
            "request_method",
            "request_path",
            "request_fingerprint",
            "created",
        ),
        prunable=True,
    ),
    TableSpec(
        "events",
        (
            "id",
            "merchant_id",
            "type",
            "resource_type",
            "resource_id",
            "data",
            "request_id",
            "idempotency_key",
            "created",
        ),
    ),
)
SPECS: Final = {t.name: t for t in TABLES}

#: {table: {day: {"rows": n, "sha256": hex}}}
Digests = dict[str, dict[str, dict[str, Any]]]


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat(timespec="microseconds")
    if isinstance(v, bytes):
        return v.hex()
    return v


def _table(spec: TableSpec, metadata: MetaData) -> Table:
    return metadata.tables[spec.name]


def rows_of(conn: Connection, spec: TableSpec, until: datetime) -> Iterator[tuple[Any, ...]]:
    """The table's digested columns of every row created up to ``until``, in key order.
    Read through the ORM's column types, so datetimes come back as aware UTC and JSON as
    Python objects on every backend."""
    table = _table(spec, target_metadata)
    cols: list[Column[Any]] = [table.c[name] for name in spec.columns]
    stmt = (
        select(*cols)
        .where(table.c.created <= until)
        .order_by(table.c.id)
        .execution_options(yield_per=2000)
    )
    for row in conn.execute(stmt):
        yield tuple(row)


def digest_table(conn: Connection, spec: TableSpec, until: datetime) -> dict[str, dict[str, Any]]:
    created_at = spec.columns.index("created")
    hashes: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for row in rows_of(conn, spec, until):
        day = row[created_at].date().isoformat()
        h = hashes.get(day)
        if h is None:
            h = hashes[day] = hashlib.sha256()
            counts[day] = 0
        h.update(canonical([_value(v) for v in row]))
        h.update(b"\n")
        counts[day] += 1
    return {day: {"rows": counts[day], "sha256": hashes[day].hexdigest()} for day in sorted(hashes)}


def digest_all(conn: Connection, until: datetime) -> Digests:
    return {spec.name: digest_table(conn, spec, until) for spec in TABLES}


@dataclass(frozen=True, slots=True)
class Difference:
    table: str
    day: str
    kind: str  # changed | missing | added | pruned
    expected: dict[str, Any] | None
    found: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "date": self.day,
            "kind": self.kind,
            "expected": self.expected,
            "found": self.found,
        }


def differences(expected: Digests, found: Digests, *, added: bool = True) -> list[Difference]:
    """Every (table, day) whose digest differs, in table order then day order. ``added``:
    report days ``found`` has and ``expected`` has not (a replica's extra rows)."""
    out: list[Difference] = []
    for spec in TABLES:
        want, got = expected.get(spec.name, {}), found.get(spec.name, {})
        for day in sorted(set(want) | set(got)):
            a, b = want.get(day), got.get(day)
            if a == b:
                continue
            if a is None:
                if added:
                    out.append(Difference(spec.name, day, "added", None, b))
                continue
            if b is None:
                kind = "pruned" if spec.prunable else "missing"
                out.append(Difference(spec.name, day, kind, a, None))
                continue
            out.append(Difference(spec.name, day, "changed", a, b))
    return out
