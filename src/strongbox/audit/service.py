"""Recording, integrating and reading audit entries.

Writes: ``record`` (and ``record_event``, the ``"*"`` subscriber) add an ``audit_entries``
row in the caller's unit of work, so the entry commits with the change it records. Writers
touch no shared row: many transactions can append at once.

Sequencing: ``integrate`` (run by the audit worker loop and before every signed head) locks
the one ``audit_tree`` row, takes committed entries that have no tree index yet in write
order (``seq``), gives them the next indexes, computes their leaves (RFC 8785 canonical JSON,
``sequence`` included) and leaf hashes, appends them to the stored compact range and writes
the completed subtree nodes. Indexes are contiguous and a verifier recomputes the tree by
reading entries in ``leaf_index`` order. On PostgreSQL an entry whose transaction commits
late is simply integrated in a later batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import rfc8785
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction

from strongbox.audit import merkle
from strongbox.audit import repository as repo
from strongbox.audit.tree import DbNodeStore, StoredTree, pack, unpack
from strongbox.core.ids import new_ids
from strongbox.db import records
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import DomainEvent, RequestContext

SYSTEM_ACTOR = "system"
OUTCOMES = frozenset({"success", "failure", "denied"})
LEAF_FIELDS = (
    "sequence",
    "id",
    "time",
    "actor",
    "action",
    "resource_type",
    "resource_id",
    "merchant_id",
    "request_id",
    "source_ip",
    "outcome",
    "before_digest",
    "after_digest",
    "event_id",
)


_SORT = orjson.OPT_SORT_KEYS
# orjson refuses integers beyond +-(2**53 - 1) with this option, which is RFC 8785's exact
# integer domain: such values go to the rfc8785 package instead.
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def _plain_json(obj: Any) -> bool:
    """True if ``obj`` is built only of dicts, lists, strings, integers, booleans and None
    (exact types: no floats, tuples, subclasses or other objects). Keys are not checked."""
    t = type(obj)
    if t is not dict and t is not list:
        return t is str or obj is None or t is int or t is bool
    stack = [obj]
    pop, push = stack.pop, stack.append
    while stack:
        o = pop()
        for v in o.values() if type(o) is dict else o:
            t = type(v)
            if t is str or v is None or t is int or t is bool:
                continue
            if t is dict or t is list:
                push(v)
                continue
            return False
    return True


def _ascii_keys(obj: Any) -> bool:
    """True if every key of every dict in ``obj`` (plain JSON) is an ASCII string."""
    stack = [obj]
    pop, push = stack.pop, stack.append
    while stack:
        o = pop()
        if type(o) is dict:
            try:
                if not "".join(o).isascii():
                    return False
            except TypeError:  # a non-string key
                return False
            o = o.values()
        for v in o:
            if type(v) is dict or type(v) is list:
                push(v)
    return True


def canonical(obj: Any) -> bytes:
    """RFC 8785 canonical JSON: the ``rfc8785`` package, or orjson where its output is
    provably identical (about 20 times faster).

    orjson's sorted, compact output is exactly the RFC 8785 form for plain JSON values
    (``_plain_json``: strings, booleans, null, integers, no floats) whose integers are
    within +-(2**53 - 1) (``_CANONICAL`` makes orjson refuse others) and whose keys are ASCII
    (so code-point order is UTF-16 order): an ASCII output shows that at C speed, else the
    keys are checked. orjson escapes strings as ECMAScript's JSON.stringify does (tested
    against rfc8785 with hypothesis)."""
    if _plain_json(obj):
        try:
            out = orjson.dumps(obj, option=_CANONICAL)
        except orjson.JSONEncodeError:  # a lone surrogate, a big integer, a non-string key
            pass
        else:
            if out.isascii() or _ascii_keys(obj):
                return out
    return rfc8785.dumps(obj)


def digest(obj: Any) -> str:
    """SHA-256 (hex) of an object's canonical JSON; values outside RFC 8785's domain
    (integers beyond 2**53, non-finite floats, lone surrogates) fall back to sorted-key
    JSON from the standard library."""
    try:
        data = canonical(obj)
    except rfc8785.CanonicalizationError:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
        data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def format_time(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def leaf_of(row: Any, sequence: int) -> dict[str, Any]:
    """The leaf object of an entry row (ORM object or row with the same attributes)."""
    return {
        "sequence": sequence,
        "id": row.id,
        "time": format_time(row.created),
        "actor": row.actor,
        "action": row.action,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "merchant_id": row.merchant_id,
        "request_id": row.request_id,
        "source_ip": row.source_ip,
        "outcome": row.outcome,
        "before_digest": row.before_digest,
        "after_digest": row.after_digest,
        "event_id": row.event_id,
    }


def _dump_leaf(leaf: dict[str, Any]) -> bytes:
    """A leaf's RFC 8785 bytes. Its keys are fixed ASCII and its values strings, null or
    an index below 2**53, all in orjson's exact domain, so no type walk is needed."""
    try:
        return orjson.dumps(leaf, option=_SORT)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate in a string
        return rfc8785.dumps(leaf)


def leaf_bytes(row: Any, sequence: int) -> bytes:
    """The leaf's RFC 8785 bytes."""
    return _dump_leaf(leaf_of(row, sequence))


def leaf_hashes(rows: Sequence[Sequence[Any]], first: int) -> list[bytes]:
    """The leaf hashes of pending entries given the indexes ``first, first + 1, …``; rows
    are tuples in ``repository.PENDING_COLUMNS`` order (the integrator's select), and the
    leaf is the same object ``leaf_of`` builds (tested)."""
    sha, dump = hashlib.sha256, _dump_leaf
    out = []
    for i, (
        _seq,
        id_,
        created,
        actor,
        action,
        rtype,
        rid,
        mid,
        req,
        ip,
        outcome,
        bd,
        ad,
        ev,
    ) in enumerate(rows, first):
        leaf = {
            "sequence": i,
            "id": id_,
            "time": format_time(created),
            "actor": actor,
            "action": action,
            "resource_type": rtype,
            "resource_id": rid,
            "merchant_id": mid,
            "request_id": req,
            "source_ip": ip,
            "outcome": outcome,
            "before_digest": bd,
            "after_digest": ad,
            "event_id": ev,
        }
        out.append(sha(b"\x00" + dump(leaf)).digest())
    return out


# --- recording ----------------------------------------------------------------------------

_PENDING_KEY = "strongbox.audit.pending"


def _insert_pending(session: Session) -> None:
    rows = session.info.pop(_PENDING_KEY, None)
    if rows:
        repo.insert_entries(session, rows)


def _drop_pending(session: Session, previous: SessionTransaction) -> None:
    """The transaction rolled back: its entries go with it. Only the outermost one: a
    savepoint rolled back (the ledger retries a posting in one) keeps the entries recorded
    before it, which commit with the rest of the transaction."""
    if previous.parent is None:
        session.info.pop(_PENDING_KEY, None)


def _queue_pending(uow: UnitOfWork) -> None:
    """At the unit of work's commit: its entries join its other writes (one INSERT, sent with
    them), before the session's own commit would insert them separately."""
    rows = uow.session.info.pop(_PENDING_KEY, None)
    for row in rows or ():
        records.append(uow, repo.ENTRY_BATCH, row)


def flush_pending(session: Session) -> None:
    """Insert the entries recorded so far in this session (done at commit anyway)."""
    _insert_pending(session)


# Session classes whose commits insert the buffered entries. A ``sessionmaker`` makes a
# Session subclass of its own, so the hooks are listened for once per class (the first
# record of the first session) instead of twice on every session that records.
_HOOKED: set[type[Session]] = set()
_HOOK_LOCK = threading.Lock()


def _hook(cls: type[Session]) -> None:
    with _HOOK_LOCK:
        if cls not in _HOOKED:
            event.listen(cls, "before_commit", _insert_pending)
            event.listen(cls, "after_soft_rollback", _drop_pending)
            _HOOKED.add(cls)


# Entry ids are drawn in batches (one CSPRNG read and a C-speed base62 mapping for many
# ids, instead of a big-integer conversion per id). ``list.pop`` is atomic, so threads
# never share an id; a forked child starts with an empty pool.
_ID_POOL: list[str] = []
_ID_BATCH = 512
os.register_at_fork(after_in_child=_ID_POOL.clear)


def _entry_id() -> str:
    while True:
        try:
            return _ID_POOL.pop()
        except IndexError:
            _ID_POOL.extend(new_ids("audit_entry", _ID_BATCH))


def record(
    uow: UnitOfWork,
    *,
    action: str,
    actor: str = SYSTEM_ACTOR,
    merchant_id: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    request_id: str | None = None,
    source_ip: str | None = None,
    outcome: str = "success",
    before: Any = None,
    after: Any = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Add an audit entry to this unit of work (also for edges that change things without a
    domain event, e.g. CLI configuration). ``before``/``after`` are stored only as digests.

    Entries are buffered on the session and inserted with one statement just before the
    unit of work commits (a ``before_commit`` hook), so they commit with the change or not
    at all. Returns the entry's column values.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}")
    if not action or len(action) > 100:
        raise ValueError("action must be 1-100 characters")
    row: dict[str, Any] = {
        "id": _entry_id(),
        "leaf_index": None,
        "leaf_hash": None,
        "created": uow.clock.now(),
        "merchant_id": merchant_id or None,
        "actor": actor[:200],
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "request_id": request_id,
        "source_ip": source_ip,
        "outcome": outcome,
        "before_digest": None if before is None else digest(before),
        "after_digest": None if after is None else digest(after),
        "event_id": event_id,
    }
    session = uow.session
    info = session.info
    pending = info.get(_PENDING_KEY)
    if pending is None:
        pending = info[_PENDING_KEY] = []
        if type(session) not in _HOOKED:
            _hook(type(session))
        if not session.in_transaction():
            session.begin()  # so that a rollback before any statement still drops them
        uow.before_commit(_queue_pending)
    pending.append(row)
    return row


def record_event(uow: UnitOfWork, event: DomainEvent) -> None:
    """The ``"*"`` subscriber: one entry per domain event, in the event's transaction."""
    ctx: RequestContext = event.context
    outcome = str(event.extra.get("outcome", "success"))
    record(
        uow,
        action=event.type,
        actor=ctx.actor,
        merchant_id=event.merchant_id or ctx.merchant_id,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        request_id=ctx.request_id,
        source_ip=ctx.source_ip,
        outcome=outcome if outcome in OUTCOMES else "failure",
        before=event.previous_attributes,
        after=event.object,
        event_id=event.id,
    )


# --- the tree state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeState:
    compact: merkle.CompactRange

    @property
    def size(self) -> int:
        return self.compact.size

    @property
    def root(self) -> bytes:
        return self.compact.root()


def tree_state(session: Session) -> TreeState:
    row = repo.get_tree(session)
    if row is None:
        return TreeState(merkle.CompactRange())
    size, compact = row
    return TreeState(merkle.CompactRange.from_hashes(size, unpack(compact)))


class LeafMismatchError(RuntimeError):
    """The leaves PostgreSQL built differ from the definition (``leaf_of``): integration
    stops and its transaction rolls back, so no wrong leaf hash is ever stored."""


# Engines whose server builds the leaves (PostgreSQL with UTF-8 text), decided once each.
_SQL_LEAVES: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def _leaves_in_sql(session: Session, dialect: str) -> bool:
    if dialect != "postgresql":
        return False
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    known = _SQL_LEAVES.get(engine)
    if known is None:
        known = _SQL_LEAVES[engine] = repo.server_encoding(session) == "UTF8"
    return known


def _check_leaves(session: Session, got: list[tuple[int, bytes]]) -> None:
    """The first and last leaves PostgreSQL built, recomputed here from their rows."""
    wanted = {got[0][0]: got[0][1], got[-1][0]: got[-1][1]}
    for row in repo.entries_at(session, list(wanted)):
        index = int(row.leaf_index)
        if merkle.leaf_hash(leaf_bytes(row, index)) != wanted[index]:
            raise LeafMismatchError(
                f"the database built a different leaf for index {index} than leaf_of: "
                "integration stopped, nothing was written"
            )


def integrate(uow: UnitOfWork, *, batch: int = 5000) -> int:
    """Give up to ``batch`` committed, unsequenced entries their tree indexes. Returns how
    many were integrated (the caller commits).

    A few statements whatever the batch, no ORM objects. On PostgreSQL: the tree row read
    and locked; one ``UPDATE`` that takes the pending entries in write order, gives them
    their indexes and has the server build and hash their leaves (``RETURNING`` only the
    hashes); the first and last leaves checked against ``leaf_of``; the completed nodes
    inserted (``COPY``); the tree row updated. On SQLite the pending entries are selected
    as tuples, hashed here and updated with one executemany."""
    session = uow.session
    flush_pending(session)
    dialect = uow.dialect
    size, compact = repo.lock_tree(session, dialect, uow.clock.now())
    if _leaves_in_sql(session, dialect):
        got = repo.sequence_pending_pg(session, LEAF_FIELDS, size, batch)
        if not got:
            return 0
        if got[0][0] != size or got[-1][0] != size + len(got) - 1:
            raise LeafMismatchError("the database gave non-contiguous indexes")
        _check_leaves(session, got)
        hashes = [h for _i, h in got]
    else:
        rows = repo.unsequenced_entries(session, batch)
        if not rows:
            return 0
        hashes = leaf_hashes(rows, size)
        repo.set_leaf_indexes(session, dialect, [row[0] for row in rows], size, hashes)
    cr = merkle.CompactRange.from_hashes(size, unpack(compact))
    DbNodeStore(session).put_runs(cr.extend(hashes))
    repo.update_tree(session, cr.size, pack(cr.hashes), uow.clock.now())
    return len(hashes)


def pending_count(session: Session) -> int:
    return repo.count_unsequenced(session)


def stored_tree(session: Session) -> StoredTree:
    return StoredTree(DbNodeStore(session))
