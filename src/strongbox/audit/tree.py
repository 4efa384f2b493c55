"""The stored tree: perfect-subtree nodes in a node store, proofs read O(log n) nodes.

One code path for every store: ``StoredTree`` appends leaf hashes through a
``CompactRange`` (writing each completed perfect subtree to the store) and builds roots and
proofs from ``merkle.inclusion_ranges`` / ``consistency_ranges`` split into perfect nodes
(``merkle.perfect_nodes``), fetched in one batch. ``DbNodeStore`` keeps nodes in
``audit_nodes`` (level 0 on ``audit_entries``); ``ArrayNodeStore`` keeps them in one
``bytearray`` per level (benchmarks build 10M-leaf trees in it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from strongbox.audit import merkle

Key = tuple[int, int]  # (level, index)

_COPY_NODES = "COPY audit_nodes (level, idx, hash) FROM STDIN"
_INSERT_NODE_PG = "INSERT INTO audit_nodes (level, idx, hash) VALUES (%s, %s, %s)"
_INSERT_NODE_SQLITE = "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)"
_COPY_MIN_NODES = 16


class NodeStore(Protocol):
    def get_many(self, keys: Iterable[Key]) -> dict[Key, bytes]: ...

    def put_runs(self, runs: list[tuple[int, int, list[bytes]]]) -> None:
        """Store runs ``(level, first_index, hashes)`` as ``CompactRange.extend`` returns."""
        ...


class MissingNodeError(LookupError):
    """A node the tree needs is absent from the store (the store was tampered with)."""


def pack(hashes: list[bytes]) -> bytes:
    return b"".join(hashes)


def unpack(blob: bytes) -> list[bytes]:
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]


class StoredTree:
    def __init__(self, store: NodeStore) -> None:
        self.store = store

    def _fetch(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        parts = [merkle.perfect_nodes(lo, hi) for lo, hi in ranges]
        wanted = {k for ks in parts for k in ks}
        got = self.store.get_many(wanted)
        if len(got) != len(wanted):
            missing = min(wanted - set(got))
            raise MissingNodeError(f"node {missing} is missing from the audit tree")
        return [merkle.fold_right([got[k] for k in ks]) for ks in parts]

    def root(self, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        return self._fetch([(0, size)])[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self._fetch(merkle.inclusion_ranges(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._fetch(merkle.consistency_ranges(old_size, new_size))

    def leaf_hash(self, index: int) -> bytes:
        return self._fetch([(index, index + 1)])[0]


class ArrayNodeStore:
    """All nodes in memory, one contiguous ``bytearray`` of 32-byte slots per level."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = []

    def put_runs(self, runs: list[tuple[int, int, list[bytes]]]) -> None:
        for level, first, hashes in runs:
            while len(self.levels) <= level:
                self.levels.append(bytearray())
            arr = self.levels[level]
            if len(arr) != first * 32:
                raise ValueError("nodes must be appended in order")
            arr += b"".join(hashes)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        out: dict[Key, bytes] = {}
        for level, idx in keys:
            if level < len(self.levels):
                arr = self.levels[level]
                off = idx * 32
                if off + 32 <= len(arr):
                    out[(level, idx)] = bytes(arr[off : off + 32])
        return out


class DbNodeStore:
    """Nodes in the database: level 0 from ``audit_entries.leaf_hash`` (or ``audit_nodes``
    once archived), levels >= 1 from ``audit_nodes``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def put_runs(self, runs: list[tuple[int, int, list[bytes]]]) -> None:
        """Levels >= 1 (level 0 lives on the entries), in one statement: ``COPY`` on
        PostgreSQL for many nodes, else one executemany of plain tuples."""
        rows = [
            (lv, first + j, h)
            for lv, first, hashes in runs
            if lv >= 1
            for j, h in enumerate(hashes)
        ]
        if not rows:
            return
        conn = self.session.connection()
        if conn.dialect.name == "postgresql":
            if len(rows) >= _COPY_MIN_NODES:
                raw = conn.connection.driver_connection
                assert raw is not None
                with raw.cursor() as cur, cur.copy(_COPY_NODES) as copy:
                    write = copy.write_row
                    for r in rows:
                        write(r)
            else:
                conn.exec_driver_sql(_INSERT_NODE_PG, rows)
        else:
            conn.exec_driver_sql(_INSERT_NODE_SQLITE, rows)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        # Plain text SQL with one placeholder per key: building SQLAlchemy expressions for a
        # few dozen keys costs far more than the queries (primary key / unique index).
        by_level: dict[int, list[int]] = {}
        for level, idx in keys:
            by_level.setdefault(int(level), []).append(int(idx))
        out: dict[Key, bytes] = {}
        leaves = by_level.pop(0, [])
        if leaves:
            params = {f"i{n}": i for n, i in enumerate(leaves)}
            marks = ",".join(f":{k}" for k in params)
            sql = f"SELECT leaf_index, leaf_hash FROM audit_entries WHERE leaf_index IN ({marks})"  # noqa: S608  # nosec B608 - placeholders only
            for idx, h in self.session.execute(text(sql), params):
                if h is not None:
                    out[(0, int(idx))] = bytes(h)
            missing = [i for i in leaves if (0, i) not in out]  # archived leaves
            if missing:
                by_level[0] = missing
        if by_level:
            params = {}
            parts = []
            for lv, idxs in by_level.items():
                params[f"l{lv}"] = lv
                marks = ",".join(f":n{lv}_{n}" for n in range(len(idxs)))
                params.update({f"n{lv}_{n}": i for n, i in enumerate(idxs)})
                parts.append(f"(level = :l{lv} AND idx IN ({marks}))")
            sql = "SELECT level, idx, hash FROM audit_nodes WHERE " + " OR ".join(parts)  # noqa: S608  # nosec B608 - placeholders only
            for level, idx, h in self.session.execute(text(sql), params):
                out[(int(level), int(idx))] = bytes(h)
        return out
