"""RFC 6962 / RFC 9162 Merkle tree hashing, audit paths and consistency proofs (0-based).

``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left || right)``; the empty tree
hashes to ``SHA-256("")``. The list-based functions take raw entries (hashed inside).

The proof algorithms are written once over *ranges*: an audit path or a consistency proof is
a list of subtree hashes ``MTH(D[lo:hi])``. ``inclusion_ranges`` and ``consistency_ranges``
name those ranges; the list functions hash them from the leaves, and the stored tree
(``strongbox.audit.tree``) reads them from stored perfect-subtree nodes (``perfect_nodes``).

``CompactRange`` is the O(log n) state needed to append: the roots of the perfect subtrees
that cover ``[0, n)``, largest first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "consistency_proof",
    "consistency_ranges",
    "fold_right",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_nodes",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return hashes[lo]
    k = _split(hi - lo)
    return node_hash(_mth(hashes, lo, lo + k), _mth(hashes, lo + k, hi))


def root(leaves: list[bytes]) -> bytes:
    """MTH of the raw entries ``leaves``."""
    if not leaves:
        return EMPTY_ROOT
    cr = CompactRange()
    for data in leaves:
        cr.append(leaf_hash(data))
    return cr.root()


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtree ranges of the audit path PATH(index, D[0:size]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError("index out of range")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The subtree ranges of PROOF(old_size, D[0:new_size]) (RFC 6962 2.1.2), in order."""
    if not 0 < old_size <= new_size:
        raise ValueError("need 0 < old_size <= new_size")
    out: list[tuple[int, int]] = []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> None:
        n = hi - lo
        if m == n:
            if not complete:
                out.append((lo, hi))
            return
        k = _split(n)
        if m <= k:
            subproof(m, lo, lo + k, complete)
            out.append((lo + k, hi))
        else:
            subproof(m - k, lo + k, hi, False)
            out.append((lo, lo + k))

    if old_size < new_size:
        subproof(old_size, 0, new_size, True)
    return out


def perfect_nodes(lo: int, hi: int) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` into aligned perfect subtrees ``(level, index)``, left to right.

    For every range produced by ``inclusion_ranges``/``consistency_ranges`` (and ``[0, n)``),
    ``MTH(D[lo:hi])`` is ``fold_right`` of these nodes' hashes.
    """
    out: list[tuple[int, int]] = []
    while lo < hi:
        level = (lo & -lo).bit_length() - 1 if lo else (hi - lo).bit_length() - 1
        while (1 << level) > hi - lo:
            level -= 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree roots (largest, leftmost first) into the root of their span."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    hashes = [leaf_hash(d) for d in leaves]
    return [_mth(hashes, lo, hi) for lo, hi in inclusion_ranges(index, len(hashes))]


def consistency_proof(leaves: list[bytes], old_size: int) -> list[bytes]:
    hashes = [leaf_hash(d) for d in leaves]
    return [_mth(hashes, lo, hi) for lo, hi in consistency_ranges(old_size, len(hashes))]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2; ``leaf`` is the raw entry (hashed here)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2."""
    if old_size < 0 or new_size < old_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # the empty tree is consistent with every tree
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: old_root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass
class CompactRange:
    """Roots of the perfect subtrees covering ``[0, size)``, largest first.

    ``append`` returns the perfect-subtree nodes it completed (``(level, index, hash)``,
    level >= 1), which a node store keeps so that proofs need no leaves.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, h: bytes) -> list[tuple[int, int, bytes]]:
        made: list[tuple[int, int, bytes]] = []
        index = self.size
        self.hashes.append(h)
        level = 0
        while index & 1:
            right = self.hashes.pop()
            left = self.hashes.pop()
            h = node_hash(left, right)
            level += 1
            index >>= 1
            made.append((level, index, h))
            self.hashes.append(h)
        self.size += 1
        return made

    def extend(self, leaf_hashes: list[bytes]) -> list[tuple[int, int, list[bytes]]]:
        """Append many leaf hashes at once, a level at a time (the fast path of ``append``).

        Returns the new nodes as runs ``(level, first_index, hashes)``: level 0 is the leaves
        themselves, then every perfect subtree the batch completed.
        """
        if not leaf_hashes:
            return []
        old = self.size
        by_level: dict[int, bytes] = {}
        bits = [lv for lv in range(old.bit_length()) if old >> lv & 1]
        for lv, h in zip(reversed(bits), self.hashes, strict=True):
            by_level[lv] = h
        sha = _sha256
        runs: list[tuple[int, int, list[bytes]]] = [(0, old, list(leaf_hashes))]
        cur = list(leaf_hashes)
        start = old
        level = 0
        while cur:
            if start & 1:  # pair the compact range's node at this level with the first new one
                cur.insert(0, by_level.pop(level))
                start -= 1
            if len(cur) & 1:
                by_level[level] = cur.pop()
            else:
                by_level.pop(level, None)
            if not cur:
                break
            parents = [
                sha(b"\x01" + a + b).digest() for a, b in zip(cur[0::2], cur[1::2], strict=False)
            ]
            level += 1
            start >>= 1
            runs.append((level, start, parents))
            cur = list(parents)
        self.size = old + len(leaf_hashes)
        self.hashes = [by_level[lv] for lv in sorted(by_level, reverse=True)]
        return runs

    def root(self) -> bytes:
        return fold_right(self.hashes) if self.hashes else EMPTY_ROOT

    @classmethod
    def from_hashes(cls, size: int, hashes: list[bytes]) -> CompactRange:
        if len(hashes) != bin(size).count("1"):
            raise ValueError("a compact range has one hash per set bit of its size")
        return cls(size, list(hashes))
