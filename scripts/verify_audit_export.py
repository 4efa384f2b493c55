#!/usr/bin/env python3
"""Check a Strongbox audit export on your own: no Strongbox needed (stdlib + cryptography).

    python3 verify_audit_export.py export.jsonl --public-key <base64 Ed25519 key>

The first line of an export (``strongbox audit export``) is a signed tree head; every other
line is an entry with its RFC 9162 inclusion proof against that head. This script checks the
head's Ed25519 signature (with the key you trust, given on the command line), then that every
entry's leaf (``SHA-256(0x00 || leaf)``) is included in the signed tree at its index. It
prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

LOG_ID = "strongbox-audit-v1"


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def signed_bytes(head: dict[str, object]) -> bytes:
    # RFC 8785 canonical JSON of these ASCII strings and integers is sorted, compact JSON.
    payload = {
        "log": LOG_ID,
        "root_hash": head["root_hash"],
        "timestamp": head["timestamp"],
        "tree_size": head["tree_size"],
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export", help="JSONL written by `strongbox audit export`")
    ap.add_argument("--public-key", required=True, help="the log's Ed25519 key (base64)")
    args = ap.parse_args(argv)
    problems = 0
    with open(args.export, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    if not lines:
        print("empty export")
        return 1
    head = json.loads(lines[0])
    if head.get("type") != "tree_head" or head.get("log") != LOG_ID:
        print("the first line is not a Strongbox tree head")
        return 1
    if head["public_key"] != args.public_key:
        print("the head is signed with a different key than the one you trust")
        return 1
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(args.public_key))
        key.verify(base64.b64decode(head["signature"]), signed_bytes(head))
    except (InvalidSignature, ValueError):
        print("the tree head's signature does not verify")
        return 1
    size, root = int(head["tree_size"]), bytes.fromhex(head["root_hash"])
    n = 0
    for line in lines[1:]:
        item = json.loads(line)
        index, leaf = int(item["index"]), item["leaf"].encode("utf-8")
        proof = [bytes.fromhex(h) for h in item["proof"]]
        if json.loads(leaf).get("sequence") != index:
            print(f"entry {index}: its leaf carries another sequence number")
            problems += 1
        elif not verify_inclusion(leaf, index, size, proof, root):
            print(f"entry {index}: not included in the signed tree")
            problems += 1
        n += 1
    print(
        f"{n} entries checked against the signed head of size {size}: "
        f"{'OK' if not problems else f'{problems} problems'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
