"""Records: mapped objects read and written through prebuilt statements, not the ORM's flush.

The payment path's rows (intents, attempts, refunds) are the mapped classes the rest of the
code knows, but built the way the ORM builds the objects it loads (no per-attribute events)
and written with prebuilt statements (``db/sql.py``). The unit of work keeps one object per
row (``UnitOfWork.records``) with the values it last wrote or read; at every flush it writes,
for each such object, the columns that changed since: one ``UPDATE … SET <those columns>
WHERE merchant_id = … AND id = …``, queued with the other writes. The ORM's unit of work did
the same at about six times the CPU per row (benchmarks/statements.py).

Code changes a record as it would an ORM object (``pi.status = "succeeded"``); it must not
mutate a JSON value in place (assign a new dict), as with the ORM.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import class_mapper

from strongbox.db.sql import Sql

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from strongbox.db.uow import UnitOfWork

T = TypeVar("T")


@dataclass(eq=False)
class RecordType(Generic[T]):
    """A mapped class whose rows are records: its columns, insert and by-id updates."""

    cls: type[T]
    kind: str
    attrs: tuple[str, ...] = field(init=False)  # attribute keys (``metadata_``), seq first
    columns: dict[str, str] = field(init=False)  # attribute key -> column name
    table: Table = field(init=False)
    json_attrs: frozenset[str] = field(init=False)
    insert: Sql = field(init=False)
    _updates: dict[frozenset[str], Sql] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        mapper = class_mapper(self.cls)
        self.table = mapper.local_table  # type: ignore[assignment]
        props = list(mapper.column_attrs)
        self.attrs = tuple(p.key for p in props)
        self.columns = {p.key: p.columns[0].name for p in props}
        self.json_attrs = frozenset(p.key for p in props if _is_json(p.columns[0].type))
        keys = [self.columns[a] for a in self.attrs if a != "seq"]
        self.insert = Sql(insert(self.table), keys=keys)

    def select(self) -> Any:
        """``SELECT`` every column, in ``attrs`` order (add ``.where`` and friends)."""
        return select(*(self.table.c[self.columns[a]] for a in self.attrs))

    def update_of(self, attrs: frozenset[str]) -> Sql:
        found = self._updates.get(attrs)
        if found is None:
            with self._lock:
                t = self.table
                cols: dict[str, Any] = {self.columns[a]: bindparam(f"v_{a}") for a in sorted(attrs)}
                stmt = (
                    update(t)
                    .where(t.c.merchant_id == bindparam("k_m"), t.c.id == bindparam("k_id"))
                    .values(cols)
                )
                found = self._updates.setdefault(attrs, Sql(stmt))
        return found


def _is_json(type_: Any) -> bool:
    from sqlalchemy import JSON

    impl = getattr(type_, "impl", type_)
    return isinstance(type_, JSON) or isinstance(impl, JSON)


def new(rt: RecordType[T], values: dict[str, Any]) -> T:
    """A transient object with these attribute values (every column; ``seq`` may be None)."""
    obj: Any = class_mapper(rt.cls).class_manager.new_instance()
    obj.__dict__.update(values)
    return obj  # type: ignore[no-any-return]


def _snapshot(rt: RecordType[Any], obj: Any) -> dict[str, Any]:
    d = obj.__dict__
    snap = {a: d.get(a) for a in rt.attrs}
    for a in rt.json_attrs:
        if snap[a] is not None:
            snap[a] = copy.deepcopy(snap[a])
    return snap


def add(uow: UnitOfWork, rt: RecordType[T], obj: T) -> T:
    """A new record: inserted at the next flush with the values it has then (so the changes
    made to it before that cost no UPDATE), and kept in the unit of work."""
    d: Any = obj.__dict__
    uow.records[(rt.kind, d["id"])] = (rt, obj, None, True)
    return obj


def load(
    uow: UnitOfWork, rt: RecordType[T], rows: Iterable[Sequence[Any]], *, locked: bool
) -> list[T]:
    """Records for fetched rows (in ``attrs`` order); a row this unit of work already holds
    gives back the object it holds, unchanged (as the session's identity map does).
    ``locked``: the rows were read ``FOR UPDATE`` (or the database has one writer)."""
    out: list[T] = []
    for row in rows:
        values = dict(zip(rt.attrs, row, strict=True))
        key = (rt.kind, values["id"])
        held = uow.records.get(key)
        if held is not None:
            if locked and not held[3]:
                uow.records[key] = (*held[:3], True)
            out.append(held[1])
            continue
        obj = new(rt, values)
        uow.records[key] = (rt, obj, _snapshot(rt, obj), locked)
        out.append(obj)
    return out


def flush(uow: UnitOfWork) -> None:
    """Queue the INSERT of each new record, and one UPDATE per record with the columns
    changed since it was read or written. A record read without a lock must still be there
    (its UPDATE must touch its row, else ``ConcurrentChange``); a locked or new one is."""
    for key, (rt, obj, snap, locked) in list(uow.records.items()):
        d = obj.__dict__
        if snap is None:
            uow.queue(rt.insert, {rt.columns[a]: d.get(a) for a in rt.attrs if a != "seq"})
            uow.records[key] = (rt, obj, _snapshot(rt, obj), True)
            continue
        changed = frozenset(a for a in rt.attrs if d.get(a) != snap[a])
        if not changed:
            continue
        params: dict[str, Any] = {"k_m": d["merchant_id"], "k_id": d["id"]}
        for a in changed:
            params[f"v_{a}"] = d.get(a)
        uow.queue(
            rt.update_of(changed),
            params,
            expect=None if locked else 1,
            what=f"{rt.kind} {d['id']}",
        )
        uow.records[key] = (rt, obj, _snapshot(rt, obj), locked)


def flush_batches(uow: UnitOfWork) -> None:
    for batch, rows in list(uow.batches.items()):
        del uow.batches[batch]
        for start in range(0, len(rows), batch.chunk):
            chunk = rows[start : start + batch.chunk]
            values = {f"{k}_{i}": row[k] for i, row in enumerate(chunk) for k in batch.keys}
            uow.queue(batch.insert_of(len(chunk)), values)


class Batch:
    """Rows of an insert-only table appended during a unit of work (status history) and
    written at its next flush in one multi-row ``INSERT`` (up to ``chunk`` rows each)."""

    def __init__(self, table: Table, keys: Sequence[str], chunk: int = 50) -> None:
        self.table = table
        self.keys = tuple(keys)
        self.chunk = chunk
        self._inserts: dict[int, Sql] = {}
        self._lock = threading.Lock()

    def insert_of(self, n: int) -> Sql:
        found = self._inserts.get(n)
        if found is None:
            rows: list[dict[str, Any]] = [
                {k: bindparam(f"{k}_{i}") for k in self.keys} for i in range(n)
            ]
            with self._lock:
                found = self._inserts.setdefault(n, Sql(insert(self.table).values(rows)))
        return found


def append(uow: UnitOfWork, batch: Batch, row: dict[str, Any]) -> None:
    uow.batches.setdefault(batch, []).append(row)


def where_id(rt: RecordType[Any], *, lock: bool) -> Sql:
    """Select one record by merchant and id (optionally ``FOR UPDATE``)."""
    t = rt.table
    cond: ColumnElement[bool] = (t.c.merchant_id == bindparam("m")) & (t.c.id == bindparam("id"))
    stmt = rt.select().where(cond)
    return Sql(stmt.with_for_update() if lock else stmt)
