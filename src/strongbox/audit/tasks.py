"""The audit log as the edges use it: integrate + sign (periodic and on demand), verify,
export with proofs, and retention (archive old ranges to compressed files).

Functions that take a ``Database`` open and commit their own units of work; they are called
by edges only (worker loop, CLI). Nothing here calls the network.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from strongbox.audit import merkle, service
from strongbox.audit import repository as repo
from strongbox.audit.heads import FileHeadSink, Signer, TreeHead, latest_head, sign_head
from strongbox.audit.models import AuditArchive, AuditEntry
from strongbox.audit.tree import pack, unpack
from strongbox.audit.verify import VerifyReport, verify
from strongbox.db.uow import Database, UnitOfWork

MIN_RETENTION_DAYS = 365  # PCI DSS 10.5.1: at least 12 months


def integrate_all(db: Database, *, batch: int = 5000) -> int:
    """Integrate every committed entry, one committed batch at a time (``service.integrate``
    works inside the unit of work it is given; this loop owns the commits)."""
    total = 0
    while True:
        with db.unit_of_work() as uow:
            n = service.integrate(uow, batch=batch)
            uow.commit()
        total += n
        if n < batch:
            return total


class AuditStateError(RuntimeError):
    """The stored log is inconsistent (e.g. an archive candidate fails its leaf hashes)."""


@dataclass
class AuditLog:
    signer: Signer
    sink: FileHeadSink
    archive_dir: Path
    retention_days: int = 400

    def __post_init__(self) -> None:
        if self.retention_days < MIN_RETENTION_DAYS:
            raise ValueError(f"audit retention must be at least {MIN_RETENTION_DAYS} days")

    # --- sequencing and heads ------------------------------------------------------------

    def integrate(self, db: Database) -> int:
        return integrate_all(db)

    def sign(self, db: Database, *, force: bool = False) -> TreeHead | None:
        """Integrate everything committed, then sign a head (if the tree grew, or ``force``)."""
        self.integrate(db)
        with db.unit_of_work() as uow:
            head = sign_head(uow, self.signer, self.sink, force=force)
            uow.commit()
        return head

    def current_head(self, db: Database) -> TreeHead:
        """A head covering every committed entry (signed now unless the latest covers it)."""
        head = self.sign(db)  # None: the tree did not grow since the latest head
        if head is None:
            with db.read() as session:
                head = latest_head(session)
        if head is None:  # an empty log: sign the empty tree once
            head = self.sign(db, force=True)
        assert head is not None
        return head

    # --- verification ----------------------------------------------------------------------

    def verify(
        self, db: Database, *, extra_keys: set[str] | None = None, heads_file: Path | None = None
    ) -> VerifyReport:
        sink = FileHeadSink(heads_file) if heads_file else self.sink
        with db.read() as session:
            return verify(
                session, trusted_keys={self.signer.public_key, *(extra_keys or set())}, sink=sink
            )

    # --- export --------------------------------------------------------------------------

    def export(
        self, db: Database, since: datetime | None, until: datetime | None
    ) -> Iterator[dict[str, Any]]:
        """JSONL records: the signed head first, then every integrated entry with
        ``since <= time < until`` and its inclusion proof against that head."""
        head = self.current_head(db)
        yield {"type": "tree_head", **head.to_dict()}
        with db.read() as session:
            tree = service.stored_tree(session)
            last = -1
            while True:
                rows = repo.exported_after(session, head.tree_size, since, until, last, 1000)
                if not rows:
                    return
                for row in rows:
                    index = int(row.leaf_index or 0)
                    yield {
                        "type": "entry",
                        "index": index,
                        "leaf": service.leaf_bytes(row, index).decode(),
                        "proof": [p.hex() for p in tree.inclusion_proof(index, head.tree_size)],
                    }
                last = int(rows[-1].leaf_index or 0)

    # --- retention -----------------------------------------------------------------------

    def archive(self, db: Database) -> AuditArchive | None:
        """Move the oldest leaves older than the retention period to a gzip JSONL file.

        Only a prefix of the tree is archived, up to the first entry still inside the
        retention period, and only what a signed head covers. The file holds the leaves and
        that head; the database keeps the leaf hashes (as level-0 nodes, so proofs still
        work) and the compact range at the boundary, so ``verify`` continues from it.
        """
        head = self.current_head(db)
        with db.unit_of_work() as uow:
            arch = self._archive(uow, head)
            uow.commit()
        return arch

    def _archive(self, uow: UnitOfWork, head: TreeHead) -> AuditArchive | None:
        session = uow.session
        now = uow.clock.now()
        cutoff = now - timedelta(days=self.retention_days)
        prev = repo.latest_archive(session)
        start = prev.end_index if prev else 0
        first_young = repo.first_index_since(session, start, cutoff)
        end = head.tree_size if first_young is None else min(first_young, head.tree_size)
        if end <= start:
            return None
        cr = (
            merkle.CompactRange.from_hashes(prev.end_index, unpack(prev.compact))
            if prev
            else merkle.CompactRange()
        )
        self.archive_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.archive_dir / f"audit-{start:012d}-{end:012d}.jsonl.gz"
        tmp = path.with_suffix(".tmp")
        header = {
            "type": "archive",
            "first_index": start,
            "end_index": end,
            "until": service.format_time(cutoff),
            "tree_head": head.to_dict(),
        }
        nodes: list[dict[str, Any]] = []
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(json.dumps(header, sort_keys=True).encode() + b"\n")
            for row in _range(session, start, end):
                index = int(row.leaf_index or 0)
                if index != cr.size:
                    raise AuditStateError(f"audit index {cr.size} is missing; run verify")
                leaf = service.leaf_bytes(row, index)
                h = merkle.leaf_hash(leaf)
                if row.leaf_hash is None or bytes(row.leaf_hash) != h:
                    raise AuditStateError(f"audit entry {index} fails its leaf hash; run verify")
                cr.append(h)
                nodes.append({"level": 0, "idx": index, "hash": h})
                line = {"index": index, "leaf": leaf.decode(), "leaf_hash": h.hex()}
                gz.write(json.dumps(line, sort_keys=True).encode() + b"\n")
            gz.flush()
            raw.flush()
            os.fsync(raw.fileno())
        if cr.size != end:
            raise AuditStateError(f"audit index {cr.size} is missing; run verify")
        os.replace(tmp, path)
        repo.insert_nodes(session, nodes, chunk=1000)
        arch = AuditArchive(
            first_index=start,
            end_index=end,
            path=str(path.resolve()),
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            compact=pack(cr.hashes),
            head_size=head.tree_size,
            created=now,
            until=cutoff,
        )
        repo.add_archive(session, arch)
        service.record(
            uow,
            action="strongbox.audit.archived",
            actor="system:retention",
            resource_type="audit_archive",
            resource_id=f"{start}-{end}",
            after={"first_index": start, "end_index": end, "sha256": arch.sha256},
        )
        repo.delete_entries(session, start, end)
        session.flush()
        return arch


def _range(session: Session, start: int, end: int) -> Iterator[AuditEntry]:
    last = start - 1
    while True:
        rows = repo.entries_between(session, last, end, 2000)
        if not rows:
            return
        yield from rows
        last = int(rows[-1].leaf_index or 0)


def build_audit_log(
    data_dir: Path,
    *,
    signing_key: str | None,
    signing_key_file: Path | None,
    heads_file: Path | None,
    archive_dir: Path | None,
    retention_days: int,
) -> AuditLog:
    if signing_key:
        signer = Signer.from_text(signing_key)
    else:
        signer = Signer.load_or_create(signing_key_file or data_dir / "audit_signing_key.pem")
    return AuditLog(
        signer=signer,
        sink=FileHeadSink(heads_file or data_dir / "audit_heads.jsonl"),
        archive_dir=archive_dir or data_dir / "audit_archive",
        retention_days=retention_days,
    )
