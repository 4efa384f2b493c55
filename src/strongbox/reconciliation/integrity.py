"""Table seals: the critical tables' daily digests, chained, signed, kept twice.

A seal holds the digests (``digests.py``) of every critical table per day, of the rows
created up to the moment of sealing (today's rows so far included). It is chained to the
previous seal (``chain = SHA-256(previous chain ‖ canonical payload)``) and signed with the
audit log's Ed25519 key over the canonical JSON of the whole seal, chain included. It is
appended to an external JSONL file first (``integrity_seals.jsonl`` under the data
directory, opened with ``O_APPEND`` and fsync'd), then stored in ``integrity_seals``: a
database restored from an old backup does not take the file back, so ``verify`` still finds
the rows the backup lost.

``verify`` checks every seal's signature and the chain from the first seal to the last, then
recomputes the digests with the latest seal's cut-off and names the first table and day
whose rows differ. ``compare`` recomputes the digests of two databases (a replica, a
restored backup) with one cut-off and lists the days that differ.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from strongbox.audit.heads import Signer, verify_signature
from strongbox.audit.service import canonical
from strongbox.core.clock import Clock
from strongbox.core.ids import new_id
from strongbox.core.jsonl import AppendOnlyJsonl
from strongbox.db.uow import Database
from strongbox.events.types import RequestContext, raise_event
from strongbox.reconciliation.digests import Difference, Digests, differences, digest_all
from strongbox.reconciliation.models import IntegritySeal

LOG_ID: Final = "strongbox-integrity-v1"
PLATFORM: Final = "platform"  # merchant_id of platform-level events (as the vault's keys)
LOCK_KEY: Final = 0x5EA125  # PostgreSQL advisory lock: one seal at a time


@dataclass(frozen=True, slots=True)
class Seal:
    id: str
    sealed_at: str  # ISO 8601 UTC with microseconds: the cut-off of the digests
    digests: Digests
    previous_chain: str | None
    chain: str
    key_id: str
    public_key: str
    signature: str

    def body(self) -> dict[str, Any]:
        return {
            "log": LOG_ID,
            "id": self.id,
            "sealed_at": self.sealed_at,
            "digests": self.digests,
            "previous_chain": self.previous_chain,
        }

    def signed_bytes(self) -> bytes:
        return canonical({**self.body(), "chain": self.chain})

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.body(),
            "chain": self.chain,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Seal:
        return cls(
            id=str(d["id"]),
            sealed_at=str(d["sealed_at"]),
            digests=dict(d["digests"]),
            previous_chain=d.get("previous_chain"),
            chain=str(d["chain"]),
            key_id=str(d["key_id"]),
            public_key=str(d["public_key"]),
            signature=str(d["signature"]),
        )

    @classmethod
    def from_row(cls, r: IntegritySeal) -> Seal:
        return cls(
            id=r.id,
            sealed_at=r.sealed_at.isoformat(timespec="microseconds"),
            digests=dict(r.digests),
            previous_chain=r.previous_chain,
            chain=r.chain,
            key_id=r.key_id,
            public_key=r.public_key,
            signature=r.signature,
        )


def chain_of(previous_chain: str | None, body: dict[str, Any]) -> str:
    return hashlib.sha256((previous_chain or "").encode() + canonical(body)).hexdigest()


class SealFile(AppendOnlyJsonl[Seal]):
    """The external, append-only copy of every seal (one JSON object a line)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, Seal.from_dict)

    def append(self, seal: Seal) -> None:
        self.append_dict(seal.to_dict())


def _db_seals(session: Session) -> list[Seal]:
    rows = session.scalars(select(IntegritySeal).order_by(IntegritySeal.seq))
    return [Seal.from_row(r) for r in rows]


def all_seals(session: Session, sink: SealFile) -> list[Seal]:
    """Every seal the file or the database holds, oldest first (by id, de-duplicated)."""
    seen: dict[str, Seal] = {}
    for _n, s in sink.read():
        if s is not None:
            seen.setdefault(s.id, s)
    for s in _db_seals(session):
        seen.setdefault(s.id, s)
    return sorted(seen.values(), key=lambda s: (s.sealed_at, s.id))


def _digests_at(db: Database, until: datetime) -> Digests:
    """Digests read in one read-only transaction (SQLite: no write lock taken)."""
    with db.read() as session:
        return digest_all(session.connection(), until)


def seal(
    db: Database,
    signer: Signer,
    sink: SealFile,
    *,
    clock: Clock | None = None,
    due_hours: float | None = None,
) -> Seal | None:
    """Seal every critical table now, today's rows so far included. With ``due_hours``, only
    if the latest seal is at least that old (``None`` returned otherwise).

    One seal at a time: the previous seal is read and the new one written under a lock
    (PostgreSQL: a transaction-level advisory lock; SQLite: its single writer), so two
    workers never fork the chain."""
    with db.unit_of_work() as uow:
        if uow.dialect == "postgresql":
            uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        now = (clock or db.clock).now()
        seals = all_seals(uow.session, sink)
        if due_hours is not None and seals:
            age = now - datetime.fromisoformat(seals[-1].sealed_at)
            if age.total_seconds() < due_hours * 3600:
                return None
        # Read in the sealing transaction itself: the rows it digests are the rows it saw.
        digests = digest_all(uow.session.connection(), now)
        previous = seals[-1].chain if seals else None
        seal_id = new_id("integrity_seal")
        stamp = now.isoformat(timespec="microseconds")
        body = {
            "log": LOG_ID,
            "id": seal_id,
            "sealed_at": stamp,
            "digests": digests,
            "previous_chain": previous,
        }
        chain = chain_of(previous, body)
        unsigned = Seal(
            seal_id, stamp, digests, previous, chain, signer.key_id, signer.public_key, ""
        )
        s = replace(unsigned, signature=signer.sign(unsigned.signed_bytes()))
        sink.append(s)  # the external copy first: a seal in the file is a true seal
        uow.session.add(
            IntegritySeal(
                id=s.id,
                sealed_at=now,
                digests=s.digests,
                previous_chain=s.previous_chain,
                chain=s.chain,
                key_id=s.key_id,
                public_key=s.public_key,
                signature=s.signature,
            )
        )
        ctx = RequestContext(merchant_id=PLATFORM, actor="system:integrity")
        summary = {
            "id": s.id,
            "object": "integrity_seal",
            "sealed_at": s.sealed_at,
            "chain": s.chain,
            "tables": {t: len(days) for t, days in s.digests.items()},
        }
        raise_event(
            uow,
            ctx,
            "strongbox.integrity.sealed",
            "integrity_seal",
            s.id,
            summary,
            merchant_id=PLATFORM,
        )
        uow.commit()
    return s


@dataclass
class Verification:
    seals: int = 0
    problems: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def first(self) -> Difference | None:
        bad = [d for d in self.differences if d.kind != "pruned"]
        return bad[0] if bad else None

    @property
    def ok(self) -> bool:
        return not self.problems and self.first is None


def verify(db: Database, sink: SealFile, *, public_key: str | None = None) -> Verification:
    """Signatures and chain of every seal, then the rows against the latest seal."""
    out = Verification()
    with db.read() as session:
        seals = all_seals(session, sink)
        in_db = {s.id for s in _db_seals(session)}
    in_file: set[str] = set()
    for n, s in sink.read():
        if s is None:
            out.problems.append(f"seal file line {n}: not a seal")
        else:
            in_file.add(s.id)
    out.seals = len(seals)
    previous: str | None = None
    for s in seals:
        if public_key is not None and s.public_key != public_key:
            out.problems.append(f"seal {s.id}: signed by another key ({s.key_id})")
        if not verify_signature(s.public_key, s.signature, s.signed_bytes()):
            out.problems.append(f"seal {s.id}: bad signature")
        if s.previous_chain != previous or chain_of(previous, s.body()) != s.chain:
            out.problems.append(f"seal {s.id}: breaks the chain")
        if s.id not in in_db:
            out.problems.append(f"seal {s.id}: in the seal file but not in the database")
        if s.id not in in_file:
            out.problems.append(f"seal {s.id}: in the database but not in the seal file")
        previous = s.chain
    if not seals:
        return out
    last = seals[-1]
    now = _digests_at(db, datetime.fromisoformat(last.sealed_at))
    out.differences = differences(last.digests, now)
    return out


def sink_for(data_dir: Path, path: Path | None) -> SealFile:
    return SealFile(path or data_dir / "integrity_seals.jsonl")


def compare(primary: Database, other: Engine, until: datetime) -> list[Difference]:
    """The (table, day) pairs whose rows differ between this database and another."""
    with other.connect() as conn:
        theirs = digest_all(conn, until)
    return differences(_digests_at(primary, until), theirs)
