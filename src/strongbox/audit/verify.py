"""``strongbox audit verify``: recompute the tree from the stored entries and check it.

Checks, in tree order: archived ranges (file present, SHA-256 as recorded, leaves
recomputed), then every live entry: indexes contiguous from the archive boundary (a gap is a
deletion), the leaf recomputed from the row's columns equals the stored leaf hash (an edit,
a reordering or an insertion changes it, because the leaf includes its sequence number),
the recomputed root equals every signed head (database and external file) at its size, each
head's Ed25519 signature verifies with a trusted key, and the stored tree state matches.
The first bad index is the smallest index at which a check failed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from strongbox.audit import merkle, service
from strongbox.audit import repository as repo
from strongbox.audit.heads import FileHeadSink, TreeHead
from strongbox.audit.models import AuditArchive
from strongbox.audit.tree import unpack


@dataclass
class VerifyReport:
    tree_size: int = 0
    entries_checked: int = 0
    archived_checked: int = 0
    heads_checked: int = 0
    pending: int = 0
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad(self, index: int | None, message: str) -> None:
        self.problems.append(message)
        if index is not None and (self.first_bad_index is None or index < self.first_bad_index):
            self.first_bad_index = index

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "entries_checked": self.entries_checked,
            "archived_checked": self.archived_checked,
            "heads_checked": self.heads_checked,
            "pending": self.pending,
            "first_bad_index": self.first_bad_index,
            "problems": self.problems,
            "warnings": self.warnings,
        }


class _Heads:
    """Heads by size, from the database and the external file; checked as sizes are reached."""

    def __init__(self, report: VerifyReport, trusted: set[str]) -> None:
        self.report = report
        self.trusted = trusted
        self.by_size: dict[int, list[tuple[str, TreeHead]]] = defaultdict(list)
        self.last_good = 0

    def add(self, source: str, head: TreeHead) -> None:
        if head.public_key not in self.trusted:
            self.report.bad(
                None,
                f"{source}: head at size {head.tree_size} is signed by an "
                f"untrusted key {head.key_id}",
            )
            return
        if not head.signature_valid():
            self.report.bad(None, f"{source}: head at size {head.tree_size} has a bad signature")
            return
        self.by_size[head.tree_size].append((source, head))

    def check(self, size: int, root: bytes) -> None:
        for source, head in self.by_size.pop(size, []):
            self.report.heads_checked += 1
            if head.root_hash != root.hex():
                first = self.last_good
                self.report.bad(
                    first if self.report.first_bad_index is None else None,
                    f"{source}: signed head at size {size} does not match the recomputed root; "
                    f"the entries in [{first}, {size}) were changed",
                )
            else:
                self.last_good = max(self.last_good, size)

    def leftover(self, size: int) -> None:
        for s, heads in sorted(self.by_size.items()):
            for source, _h in heads:
                self.report.bad(
                    size, f"{source}: signed head at size {s} but only {size} entries remain"
                )


def _check_archive(
    arch: AuditArchive, cr: merkle.CompactRange, heads: _Heads, report: VerifyReport
) -> merkle.CompactRange:
    path = Path(arch.path)
    stored = merkle.CompactRange.from_hashes(arch.end_index, unpack(arch.compact))
    if not path.exists():
        report.bad(arch.first_index, f"archive file {path} is missing")
        return stored
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != arch.sha256:
        report.bad(arch.first_index, f"archive file {path} does not match its recorded SHA-256")
        return stored
    lines = gzip.decompress(data).decode().splitlines()
    for line in lines[1:]:
        item = json.loads(line)
        index = int(item["index"])
        if index != cr.size:
            report.bad(cr.size, f"archive {path}: index {cr.size} missing")
            return stored
        leaf = item["leaf"].encode()
        if json.loads(leaf).get("sequence") != index:
            report.bad(index, f"archive {path}: leaf {index} carries a different sequence")
        cr.append(merkle.leaf_hash(leaf))
        report.archived_checked += 1
        heads.check(cr.size, cr.root())
    if cr.size != arch.end_index or cr.hashes != stored.hashes:
        report.bad(arch.first_index, f"archive {path} does not match the recorded tree state")
        return stored
    return cr


def verify(
    session: Session,
    *,
    trusted_keys: set[str],
    sink: FileHeadSink | None,
    chunk: int = 5000,
) -> VerifyReport:
    report = VerifyReport()
    heads = _Heads(report, trusted_keys)
    db_sizes: set[tuple[int, str]] = set()
    for head_row in repo.heads_in_order(session):
        dbh = TreeHead.from_row(head_row)
        db_sizes.add((dbh.tree_size, dbh.root_hash))
        heads.add("database", dbh)
    if sink is not None:
        file_sizes: set[tuple[int, str]] = set()
        for line, fh in sink.read():
            if fh is None:
                report.bad(None, f"{sink.path}:{line} is not a tree head")
                continue
            file_sizes.add((fh.tree_size, fh.root_hash))
            heads.add(f"{sink.path.name}:{line}", fh)
        for size, _root in sorted(db_sizes - file_sizes):
            report.warnings.append(f"database head at size {size} is not in {sink.path}")

    cr = merkle.CompactRange()
    heads.check(0, cr.root())
    for arch in repo.archives_in_order(session):
        if arch.first_index != cr.size:
            report.bad(cr.size, f"archives do not continue at index {cr.size}")
        cr = _check_archive(arch, cr, heads, report)

    state = service.tree_state(session)
    last = cr.size - 1
    while True:
        rows = repo.integrated_after(session, last, chunk)
        if not rows:
            break
        for row in rows:
            index = int(row.leaf_index or 0)
            if index >= state.size and report.first_bad_index is None:
                report.bad(
                    index,
                    f"entry {row.id} has index {index} beyond the tree size "
                    f"{state.size} (inserted)",
                )
            if index != cr.size:
                report.bad(cr.size, f"index {cr.size} is missing (deleted)")
                while cr.size < index:  # keep going so that later heads are still checked
                    cr.append(bytes(32))
            h = merkle.leaf_hash(service.leaf_bytes(row, index))
            if row.leaf_hash is None or bytes(row.leaf_hash) != h:
                report.bad(
                    index,
                    f"entry at index {index} ({row.id}) does not match its "
                    "leaf hash (edited, reordered or inserted)",
                )
            cr.append(h)
            report.entries_checked += 1
            heads.check(cr.size, cr.root())
        last = int(rows[-1].leaf_index or 0)

    report.tree_size = state.size
    if cr.size < state.size:
        report.bad(
            cr.size, f"index {cr.size} is missing (deleted); the tree has {state.size} entries"
        )
    if cr.size == state.size and cr.hashes != state.compact.hashes:
        report.bad(None, "the stored tree state does not match the recomputed tree")
    heads.leftover(cr.size)
    report.pending = service.pending_count(session)
    return report
