"""The statements that write a batch: balance slots first, then the transfers.

Every slot update carries the overflow guard in its ``WHERE``: a slot takes a change that
grows a side (pending + posted debits, or credits) only while that side stays within the
slot's share of the account's limit (``transfers.slot_share``). A row the guard holds back
is simply not updated; the statement returns the rows it did update, so the service can
take those changes back (``add_to_slots`` with the opposite deltas) and redo the batch
exactly (``lock_slots`` then ``set_slots``). No transfer is written before its slots are.

PostgreSQL statements are SQL text run through the driver (``exec_driver_sql``): built
once, no compilation per call, and psycopg prepares them on the server after a few runs.

- ``write_small`` (PostgreSQL, fewer than ``COPY_FROM`` transfers): the guarded update and
  the insert in one statement; the insert runs only if every slot row was updated.
- ``write_single`` (PostgreSQL): one posted or pending transfer in one statement: its
  stored twin if the id exists (nothing written then), else the guarded update of its two
  slots and the insert (``ON CONFLICT DO NOTHING``: a concurrent twin shows as 0 inserted).
  It runs after a savepoint, in the same round trip, so when it must be redone another way
  it is rolled back with its row locks, and the redo takes its locks in order.
- ``add_guarded`` then ``insert_transfers`` (SQLite; PostgreSQL batches of ``COPY_FROM``
  and more, whose rows go by ``COPY``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, cast

import psycopg
from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from strongbox.db.engine import json_dumps
from strongbox.ledger.models import BalanceSlot, LedgerTransfer

if TYPE_CHECKING:
    from strongbox.ledger.transfers import Transfer

SLOTS: Final = cast(Table, BalanceSlot.__table__)
TRANSFERS: Final = cast(Table, LedgerTransfer.__table__)

COPY_FROM: Final = 50
"""Batches of this many transfers and more are written with ``COPY`` on PostgreSQL."""

SlotChange = tuple[str, int, int, int, int, int, int]
"""account, slot, debits_pending, debits_posted, credits_pending, credits_posted deltas,
and the slot's share (the guard's limit)."""

_COLS: Final = (
    "id, txn_id, merchant_id, debit_account_id, credit_account_id, amount, currency, kind, "
    "pending_id, timeout_at, code, source, linked, metadata, created"
)
_ADD: Final = """UPDATE ledger_balance_slots AS x SET
    debits_pending = x.debits_pending + v.dp, debits_posted = x.debits_posted + v.dpo,
    credits_pending = x.credits_pending + v.cp, credits_posted = x.credits_posted + v.cpo"""
_GUARD: Final = """x.merchant_id = {m} AND x.account_id = v.a AND x.slot = v.s
    AND (v.dp + v.dpo <= 0 OR x.debits_pending + x.debits_posted <= v.lim - (v.dp + v.dpo))
    AND (v.cp + v.cpo <= 0 OR x.credits_pending + x.credits_posted <= v.lim - (v.cp + v.cpo))"""
_LOCKED: Final = """{name} AS (
  SELECT v.* FROM {rows}
  JOIN ledger_balance_slots AS y ON y.merchant_id = %(m)s AND y.account_id = v.a AND y.slot = v.s
  {where}ORDER BY v.a, v.s FOR UPDATE OF y
)"""
_PG_ROWS: Final = """unnest(%(a)s::text[], %(s)s::int[], %(dp)s::bigint[], %(dpo)s::bigint[],
    %(cp)s::bigint[], %(cpo)s::bigint[], %(lim)s::bigint[]) AS v(a, s, dp, dpo, cp, cpo, lim)"""
_PG_UPDATE: Final = f"""{_ADD} FROM l AS v
WHERE {_GUARD.format(m="%(m)s")}
RETURNING x.account_id, x.slot"""
# The slot rows are locked first, in (account, slot) order as every writer takes them (the
# update's own join order is the planner's choice), then updated where the guard allows.
_PG_GUARDED: Final = f"""WITH {_LOCKED.format(name="l", rows=_PG_ROWS, where="")}
{_PG_UPDATE}"""

_PG_SMALL: Final = f"""WITH {_LOCKED.format(name="l", rows=_PG_ROWS, where="")},
u AS ({_PG_UPDATE}),
i AS (
  INSERT INTO ledger_transfers ({_COLS})
  SELECT t.id, t.txn_id, %(m)s, t.dr, t.cr, t.amount, t.cur, t.kind, t.pid, t.tmo, t.code,
         t.src, t.lnk, t.md, t.created
  FROM unnest(%(ids)s::text[], %(txn)s::text[], %(dr)s::text[], %(cr)s::text[],
              %(amt)s::bigint[], %(curs)s::text[], %(kinds)s::text[], %(pids)s::text[],
              %(tmos)s::timestamptz[], %(codes)s::text[], %(srcs)s::text[], %(lnks)s::bool[],
              %(mds)s::text[]::jsonb[], %(created)s::timestamptz[])
       AS t(id, txn_id, dr, cr, amount, cur, kind, pid, tmo, code, src, lnk, md, created)
  WHERE (SELECT count(*) FROM u) = %(n)s
  RETURNING 1
)
SELECT (SELECT count(*) FROM i) AS inserted,
       ARRAY(SELECT account_id FROM u) AS ua, ARRAY(SELECT slot FROM u) AS us"""  # noqa: S608  # nosec B608 - constant text, values bound

_PG_PAIR: Final = """(VALUES
    (%(a0)s::text, %(s0)s::int, %(dp0)s::bigint, %(dpo0)s::bigint, %(cp0)s::bigint,
     %(cpo0)s::bigint, %(lim0)s::bigint),
    (%(a1)s::text, %(s1)s::int, %(dp1)s::bigint, %(dpo1)s::bigint, %(cp1)s::bigint,
     %(cpo1)s::bigint, %(lim1)s::bigint)
  ) AS v(a, s, dp, dpo, cp, cpo, lim)"""

_NO_TWIN: Final = "WHERE NOT EXISTS (SELECT 1 FROM e) "  # a replay locks and writes nothing

_PG_SINGLE: Final = f"""WITH e AS (
  SELECT {_COLS} FROM ledger_transfers WHERE merchant_id = %(m)s AND id = %(id)s
),
{_LOCKED.format(name="l", rows=_PG_PAIR, where=_NO_TWIN)},
u AS (
  {_ADD} FROM l AS v
  WHERE {_GUARD.format(m="%(m)s")}
  RETURNING x.account_id, x.slot
),
i AS (
  INSERT INTO ledger_transfers ({_COLS})
  SELECT %(id)s::text, %(txn)s::text, %(m)s::text, %(dr)s::text, %(cr)s::text,
         %(amt)s::bigint, %(cur)s::text, %(kind)s::text, NULL, %(tmo)s::timestamptz,
         %(code)s::text, %(src)s::text, false, %(md)s::jsonb, %(created)s::timestamptz
  WHERE (SELECT count(*) FROM u) = 2
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM i) AS inserted, (SELECT row_to_json(e) FROM e) AS twin"""  # noqa: S608  # nosec B608 - constant text, values bound

_PG_LOCK: Final = """SELECT account_id, slot, debits_pending, debits_posted, credits_pending,
       credits_posted
FROM ledger_balance_slots WHERE merchant_id = %(m)s AND account_id = ANY(%(ids)s::text[])
ORDER BY account_id, slot FOR UPDATE"""
_PG_SET: Final = """UPDATE ledger_balance_slots AS x SET
    debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, credits_posted = v.cpo
FROM unnest(%(a)s::text[], %(s)s::int[], %(dp)s::bigint[], %(dpo)s::bigint[],
            %(cp)s::bigint[], %(cpo)s::bigint[]) AS v(a, s, dp, dpo, cp, cpo)
WHERE x.merchant_id = %(m)s AND x.account_id = v.a AND x.slot = v.s"""


def _sqlite_guarded(n: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * n)
    return (
        f"WITH v(a, s, dp, dpo, cp, cpo, lim) AS (VALUES {values}) {_ADD} FROM v "
        f"WHERE {_GUARD.format(m='?')} RETURNING account_id, slot"
    )


_SQLITE_ROWS: Final = 4000  # 7 parameters a row, under SQLite's 32,766 per statement


def _slots_update() -> Any:
    s = SLOTS.c
    return (
        update(SLOTS)
        .where(
            and_(
                s.merchant_id == bindparam("m"),
                s.account_id == bindparam("a"),
                s.slot == bindparam("s"),
            )
        )
        .values(
            debits_pending=s.debits_pending + bindparam("dp"),
            debits_posted=s.debits_posted + bindparam("dpo"),
            credits_pending=s.credits_pending + bindparam("cp"),
            credits_posted=s.credits_posted + bindparam("cpo"),
        )
    )


def _slots_set() -> Any:
    s = SLOTS.c
    return (
        update(SLOTS)
        .where(
            and_(
                s.merchant_id == bindparam("m"),
                s.account_id == bindparam("a"),
                s.slot == bindparam("s"),
            )
        )
        .values(
            debits_pending=bindparam("dp"),
            debits_posted=bindparam("dpo"),
            credits_pending=bindparam("cp"),
            credits_posted=bindparam("cpo"),
        )
    )


# Built once: building a Core statement costs about as much CPU as running it.
_SLOTS_UPDATE: Final = _slots_update()
_SLOTS_SET: Final = _slots_set()
_INSERT_TRANSFERS: Final = insert(TRANSFERS)


_CHANGE_KEYS: Final = ("a", "s", "dp", "dpo", "cp", "cpo", "lim")


def _columns(changes: Sequence[SlotChange]) -> dict[str, list[Any]]:
    return {k: list(col) for k, col in zip(_CHANGE_KEYS, zip(*changes, strict=True), strict=True)}


def _updated(row: Any) -> list[tuple[str, int]]:
    return list(zip(row.ua, row.us, strict=True))


def add_guarded(
    session: Session, dialect: str, merchant_id: str, changes: Sequence[SlotChange]
) -> list[tuple[str, int]]:
    """Add each change to its slot where the guard allows; the (account, slot) updated."""
    if not changes:
        return []
    conn = session.connection()
    if dialect == "postgresql":
        params = {"m": merchant_id, **_columns(changes)}
        return [(a, s) for a, s in conn.exec_driver_sql(_PG_GUARDED, params)]
    out: list[tuple[str, int]] = []
    for i in range(0, len(changes), _SQLITE_ROWS):
        chunk = changes[i : i + _SQLITE_ROWS]
        flat = (*(x for change in chunk for x in change), merchant_id)
        out.extend((a, s) for a, s in conn.exec_driver_sql(_sqlite_guarded(len(chunk)), flat))
    return out


def write_small(
    session: Session, merchant_id: str, changes: Sequence[SlotChange], rows: Sequence[Transfer]
) -> tuple[int, list[tuple[str, int]]]:
    """PostgreSQL: the guarded slot update and, if it updated every row, the insert, in one
    statement. Returns (transfers inserted, (account, slot) updated)."""
    params: dict[str, Any] = {
        "m": merchant_id,
        "n": len(changes),
        "ids": [t.id for t in rows],
        "txn": [t.txn_id for t in rows],
        "dr": [t.debit_account_id for t in rows],
        "cr": [t.credit_account_id for t in rows],
        "amt": [t.amount for t in rows],
        "curs": [t.currency for t in rows],
        "kinds": [t.kind for t in rows],
        "pids": [t.pending_id for t in rows],
        "tmos": [t.timeout_at for t in rows],
        "codes": [t.code for t in rows],
        "srcs": [t.source for t in rows],
        "lnks": [t.linked for t in rows],
        "mds": [json_dumps(t.metadata) for t in rows],
        "created": [t.created for t in rows],
    }
    params |= _columns(changes) if changes else {k: [] for k in _CHANGE_KEYS}
    row = session.connection().exec_driver_sql(_PG_SMALL, params).one()
    return int(row.inserted), _updated(row)


#: ``_PG_SINGLE``'s parameters, in the order of the prepared statement's ``$n``, with types.
_SINGLE_PARAMS: Final = (
    *(("m", "text"), ("id", "text"), ("txn", "text"), ("dr", "text"), ("cr", "text")),
    *(("amt", "bigint"), ("cur", "text"), ("kind", "text"), ("tmo", "timestamptz")),
    *(("code", "text"), ("src", "text"), ("md", "text"), ("created", "timestamptz")),
    *(
        (f"{name}{i}", kind)
        for i in (0, 1)
        for name, kind in (
            *(("a", "text"), ("s", "int"), ("dp", "bigint"), ("dpo", "bigint")),
            *(("cp", "bigint"), ("cpo", "bigint"), ("lim", "bigint")),
        )
    ),
)


def _prepared(name: str, sql: str) -> str:
    """``PREPARE name (types) AS sql`` with its ``%(x)s`` placeholders as ``$n``."""
    for n, (param, _kind) in enumerate(_SINGLE_PARAMS, start=1):
        sql = sql.replace(f"%({param})s", f"${n}")
    assert "%(" not in sql
    types = ", ".join(kind for _param, kind in _SINGLE_PARAMS)
    return f"PREPARE {name} ({types}) AS {sql}"


_SINGLE_NAME: Final = "sb_ledger_single_1"  # a new text gets a new name
_SINGLE_SAVEPOINT: Final = "sb_ledger_single"
_PREPARE_SINGLE: Final = _prepared(_SINGLE_NAME, _PG_SINGLE)
_RUN_SINGLE: Final = (
    f"SAVEPOINT {_SINGLE_SAVEPOINT}; "
    f"EXECUTE {_SINGLE_NAME}({', '.join(['%s'] * len(_SINGLE_PARAMS))})"
)
_PREPARED_KEY: Final = "strongbox.ledger.single_prepared"


def write_single(
    session: Session, t: Transfer, changes: tuple[SlotChange, SlotChange]
) -> tuple[bool, Any | None] | None:
    """PostgreSQL: one posted or pending transfer and its two slot changes, in one statement
    after a savepoint, both in one round trip (one simple-protocol query: ``SAVEPOINT``;
    ``EXECUTE`` of a statement prepared once per connection, its arguments quoted by
    psycopg's ``ClientCursor``). Returns (inserted, the stored transfer with this id if any,
    as a mapping of its columns); ``None`` if it wrote nothing after all (a slot held back,
    a concurrent twin): then it was rolled back to its savepoint, its row locks with it, so
    the caller can redo the transfer taking its locks in order.

    The savepoint is left open when the statement succeeds (COMMIT ends it): releasing it
    would cost a round trip, and nothing after it depends on it."""
    values: dict[str, Any] = {
        "m": t.merchant_id,
        "id": t.id,
        "txn": t.txn_id,
        "dr": t.debit_account_id,
        "cr": t.credit_account_id,
        "amt": t.amount,
        "cur": t.currency,
        "kind": t.kind,
        "tmo": t.timeout_at,
        "code": t.code,
        "src": t.source,
        "md": json_dumps(t.metadata),
        "created": t.created,
    }
    for i, change in enumerate(changes):
        values |= dict(zip((f"{k}{i}" for k in _CHANGE_KEYS), change, strict=True))
    args = tuple(values[name] for name, _kind in _SINGLE_PARAMS)
    conn = session.connection()
    fairy = conn.connection
    if not fairy.info.get(_PREPARED_KEY):
        conn.exec_driver_sql(_PREPARE_SINGLE)  # once per connection: it outlives transactions
        fairy.info[_PREPARED_KEY] = True
    raw = fairy.driver_connection
    assert isinstance(raw, psycopg.Connection)
    try:
        with psycopg.ClientCursor(raw) as cur:
            cur.execute(_RUN_SINGLE, args)
            cur.nextset()
            row = cur.fetchone()
    except psycopg.Error:
        # The prepared statement is gone (a pooler's DISCARD ALL) or anything else went
        # wrong: back to the savepoint; the caller's redo reports what recurs.
        fairy.info.pop(_PREPARED_KEY, None)
        _undo_single(conn)
        return None
    assert row is not None
    inserted, twin = row
    if inserted or twin is not None:
        # The stored twin comes as one JSON column: cheaper than 15 when it is absent.
        if twin is not None:
            for key in ("created", "timeout_at"):
                twin[key] = datetime.fromisoformat(twin[key]) if twin[key] is not None else None
        return bool(inserted), twin
    _undo_single(conn)
    return None


def _undo_single(conn: Any) -> None:
    conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SINGLE_SAVEPOINT}")


def add_to_slots(session: Session, merchant_id: str, changes: Sequence[SlotChange]) -> None:
    """Add each change to its slot, unguarded (taking back what a guarded update applied)."""
    params = [
        {"m": merchant_id, "a": a, "s": s, "dp": dp, "dpo": dpo, "cp": cp, "cpo": cpo}
        for a, s, dp, dpo, cp, cpo, _lim in changes
    ]
    if params:
        session.connection().execute(_SLOTS_UPDATE, params)


def lock_slots(
    session: Session, dialect: str, merchant_id: str, account_ids: list[str]
) -> list[tuple[str, int, int, int, int, int]]:
    """Every slot of these accounts, (account, slot, dp, dpo, cp, cpo); on PostgreSQL locked,
    in (account, slot) order as every writer takes them."""
    if not account_ids:
        return []
    if dialect == "postgresql":
        return [
            (r[0], r[1], r[2], r[3], r[4], r[5])
            for r in session.connection().exec_driver_sql(
                _PG_LOCK, {"m": merchant_id, "ids": account_ids}
            )
        ]
    s = SLOTS.c
    out: list[tuple[str, int, int, int, int, int]] = []
    for i in range(0, len(account_ids), 900):
        stmt = (
            select(
                s.account_id,
                s.slot,
                s.debits_pending,
                s.debits_posted,
                s.credits_pending,
                s.credits_posted,
            )
            .where(s.merchant_id == merchant_id, s.account_id.in_(account_ids[i : i + 900]))
            .order_by(s.account_id, s.slot)
        )
        out.extend((r[0], r[1], r[2], r[3], r[4], r[5]) for r in session.execute(stmt))
    return out


def set_slots(
    session: Session,
    dialect: str,
    merchant_id: str,
    values: Sequence[tuple[str, int, int, int, int, int]],
) -> None:
    """Write absolute slot values (slots locked by ``lock_slots``); on PostgreSQL in one
    statement, so the balance-flag trigger sees the account's final state."""
    if not values:
        return
    if dialect == "postgresql":
        a, s, dp, dpo, cp, cpo = (list(col) for col in zip(*values, strict=True))
        session.connection().exec_driver_sql(
            _PG_SET,
            {"m": merchant_id, "a": a, "s": s, "dp": dp, "dpo": dpo, "cp": cp, "cpo": cpo},
        )
        return
    session.connection().execute(
        _SLOTS_SET,
        [
            {"m": merchant_id, "a": a, "s": s, "dp": dp, "dpo": dpo, "cp": cp, "cpo": cpo}
            for a, s, dp, dpo, cp, cpo in values
        ],
    )


def insert_transfers(session: Session, dialect: str, rows: Sequence[Transfer]) -> None:
    """Bulk insert: ``COPY`` on PostgreSQL for large batches (one statement, so the
    statement-level check trigger runs once), executemany otherwise."""
    if dialect != "postgresql" or len(rows) < COPY_FROM:
        session.execute(_INSERT_TRANSFERS, [tr.row() for tr in rows])
        return
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY ledger_transfers ({_COLS}) FROM STDIN") as copy:
        for tr in rows:
            copy.write_row(
                (
                    tr.id,
                    tr.txn_id,
                    tr.merchant_id,
                    tr.debit_account_id,
                    tr.credit_account_id,
                    tr.amount,
                    tr.currency,
                    tr.kind,
                    tr.pending_id,
                    tr.timeout_at,
                    tr.code,
                    tr.source,
                    tr.linked,
                    json_dumps(tr.metadata) if tr.metadata else "{}",
                    tr.created,
                )
            )
