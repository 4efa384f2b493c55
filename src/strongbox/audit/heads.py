"""Signed tree heads: Ed25519 over the canonical JSON of (tree_size, root_hash, timestamp).

Every head is stored in ``audit_tree_heads`` and appended to an external sink, by default an
append-only JSONL file under the data directory, so that someone who rewrites the database
cannot also rewrite the heads already published. The public key travels with every head.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from strongbox.audit import repository as repo
from strongbox.audit import service
from strongbox.audit.models import AuditTreeHead
from strongbox.core.jsonl import AppendOnlyJsonl
from strongbox.core.secret import Secret
from strongbox.db.uow import UnitOfWork

LOG_ID = "strongbox-audit-v1"


def signed_payload(tree_size: int, root_hash: str, timestamp_ms: int) -> bytes:
    """The bytes that are signed (RFC 8785 canonical JSON)."""
    return service.canonical(
        {"log": LOG_ID, "root_hash": root_hash, "timestamp": timestamp_ms, "tree_size": tree_size}
    )


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


class Signer:
    """An Ed25519 signing key (never logged; repr is masked)."""

    def __init__(self, private: Secret[Ed25519PrivateKey]) -> None:
        self._private = private
        pub = private.reveal().public_key()
        self.public_raw = pub.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = base64.b64encode(self.public_raw).decode()
        self.key_id = key_id_of(self.public_raw)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self._private.reveal().sign(data)).decode()

    @classmethod
    def from_text(cls, text: str) -> Signer:
        """A PEM (PKCS#8) private key, or the base64 of a 32-byte Ed25519 seed."""
        text = text.strip()
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("the audit signing key must be an Ed25519 key")
            return cls(Secret(key))
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raise ValueError("the audit signing key is neither PEM nor base64") from None
        if len(raw) != 32:
            raise ValueError("a base64 Ed25519 seed must decode to 32 bytes")
        return cls(Secret(Ed25519PrivateKey.from_private_bytes(raw)))

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """Read the key file, or create it (mode 0600, exclusively) on first start."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                pass  # another process created it first
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                    f.flush()
                    os.fsync(f.fileno())
        return cls.from_text(path.read_text())


def verify_signature(public_key_b64: str, signature_b64: str, data: bytes) -> bool:
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        pub.verify(base64.b64decode(signature_b64), data)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class TreeHead:
    tree_size: int
    root_hash: str
    timestamp_ms: int
    key_id: str
    public_key: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "audit.tree_head",
            "log": LOG_ID,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp_ms,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeHead:
        return cls(
            tree_size=int(d["tree_size"]),
            root_hash=str(d["root_hash"]),
            timestamp_ms=int(d["timestamp"]),
            key_id=str(d["key_id"]),
            public_key=str(d["public_key"]),
            signature=str(d["signature"]),
        )

    @classmethod
    def from_row(cls, r: AuditTreeHead) -> TreeHead:
        return cls(r.tree_size, r.root_hash, r.timestamp_ms, r.key_id, r.public_key, r.signature)

    def signature_valid(self) -> bool:
        data = signed_payload(self.tree_size, self.root_hash, self.timestamp_ms)
        return verify_signature(self.public_key, self.signature, data)


class FileHeadSink(AppendOnlyJsonl[TreeHead]):
    """Append-only JSONL of signed heads (opened with O_APPEND, fsync'd per head)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, TreeHead.from_dict)

    def append(self, head: TreeHead) -> None:
        self.append_dict(head.to_dict())


def latest_head(session: Session) -> TreeHead | None:
    row = repo.latest_head(session)
    return TreeHead.from_row(row) if row else None


def sign_head(
    uow: UnitOfWork, signer: Signer, sink: FileHeadSink, *, force: bool = False
) -> TreeHead | None:
    """Sign the integrated tree as it is now; ``None`` if the latest head already covers it
    (unless ``force``). The head goes to the external sink first, then into the database
    (a head in the file that never reached the database is still a true head)."""
    state = service.tree_state(uow.session)
    root_hex = state.root.hex()
    last = latest_head(uow.session)
    if not force and last is not None and last.tree_size == state.size:
        return None
    ts = int(uow.clock.now().timestamp() * 1000)
    head = TreeHead(
        tree_size=state.size,
        root_hash=root_hex,
        timestamp_ms=ts,
        key_id=signer.key_id,
        public_key=signer.public_key,
        signature=signer.sign(signed_payload(state.size, root_hex, ts)),
    )
    sink.append(head)
    repo.add_head(
        uow.session,
        AuditTreeHead(
            tree_size=head.tree_size,
            root_hash=head.root_hash,
            timestamp_ms=head.timestamp_ms,
            key_id=head.key_id,
            public_key=head.public_key,
            signature=head.signature,
        ),
    )
    return head
