"""RFC 6962 / 9162 vectors and cross-checks for strongbox.audit.merkle."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.audit import merkle
from strongbox.audit.tree import ArrayNodeStore, StoredTree

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# An independent implementation, written straight from RFC 6962 section 2.1 (recursive MTH,
# PATH and PROOF), to cross-check the iterative one.
def _mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(d[:k]) + _mth(d[k:])).digest()


def _path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def test_empty_tree_and_leaf_hash() -> None:
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.leaf_hash(b"").hex() == ROOTS[0]
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_rfc6962_vectors(size: int) -> None:
    assert merkle.root(LEAVES[:size]).hex() == ROOTS[size - 1]
    assert _mth(LEAVES[:size]).hex() == ROOTS[size - 1]


def test_published_inclusion_path_of_leaf_0_in_8() -> None:
    assert [p.hex() for p in merkle.inclusion_proof(LEAVES, 0)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


@pytest.mark.parametrize("size", range(1, 9))
def test_every_inclusion_proof(size: int) -> None:
    leaves = LEAVES[:size]
    r = bytes.fromhex(ROOTS[size - 1])
    for i in range(size):
        proof = merkle.inclusion_proof(leaves, i)
        assert proof == _path(i, leaves)
        assert merkle.verify_inclusion(leaves[i], i, size, proof, r)
        # Wrong leaf, index, root or a tampered path all fail.
        assert not merkle.verify_inclusion(leaves[i] + b"x", i, size, proof, r)
        if size > 1:
            assert not merkle.verify_inclusion(leaves[i], (i + 1) % size, size, proof, r)
        assert not merkle.verify_inclusion(leaves[i], i, size, proof, bytes(32))
        for j in range(len(proof)):
            bad = list(proof)
            bad[j] = bytes(32)
            assert not merkle.verify_inclusion(leaves[i], i, size, bad, r)
        assert not merkle.verify_inclusion(leaves[i], i, size, [*proof, bytes(32)], r)
        if proof:
            assert not merkle.verify_inclusion(leaves[i], i, size, proof[:-1], r)


@pytest.mark.parametrize("new", range(1, 9))
def test_every_consistency_proof(new: int) -> None:
    new_root = bytes.fromhex(ROOTS[new - 1])
    for old in range(1, new + 1):
        old_root = bytes.fromhex(ROOTS[old - 1])
        proof = merkle.consistency_proof(LEAVES[:new], old)
        assert proof == (_subproof(old, LEAVES[:new], True) if old < new else [])
        assert merkle.verify_consistency(old, new, old_root, new_root, proof)
        if old < new:
            assert not merkle.verify_consistency(old, new, new_root, new_root, proof)
            assert not merkle.verify_consistency(old, new, old_root, old_root, proof)
            assert not merkle.verify_consistency(old, new, old_root, new_root, [])
            for j in range(len(proof)):
                bad = list(proof)
                bad[j] = bytes(32)
                assert not merkle.verify_consistency(old, new, old_root, new_root, bad)
    assert merkle.verify_consistency(0, new, merkle.EMPTY_ROOT, new_root, [])
    assert not merkle.verify_consistency(new, new - 1, new_root, new_root, [])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="index"):
        merkle.inclusion_proof(LEAVES, 8)
    with pytest.raises(ValueError, match="old_size"):
        merkle.consistency_proof(LEAVES, 0)
    assert not merkle.verify_inclusion(b"", -1, 8, [], bytes(32))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_compact_range_and_stored_tree_match_the_definition(
    leaves: list[bytes], data: st.DataObject
) -> None:
    # One leaf at a time (append) ...
    cr = merkle.CompactRange()
    made: set[tuple[int, int, bytes]] = set()
    for i, d in enumerate(leaves):
        h = merkle.leaf_hash(d)
        made |= {(0, i, h), *cr.append(h)}
        assert cr.root() == merkle.root(leaves[: i + 1]) == _mth(leaves[: i + 1])
    # ... and in random batches (extend, the integrator's path) build the same tree.
    store = ArrayNodeStore()
    batched = merkle.CompactRange()
    cuts = sorted(
        data.draw(st.sets(st.integers(1, len(leaves) - 1) if len(leaves) > 1 else st.nothing()))
    )
    bounds = [0, *cuts, len(leaves)]
    made_b: set[tuple[int, int, bytes]] = set()
    for lo, hi in itertools.pairwise(bounds):
        runs = batched.extend([merkle.leaf_hash(d) for d in leaves[lo:hi]])
        made_b |= {(lv, first + j, h) for lv, first, hs in runs for j, h in enumerate(hs)}
        store.put_runs(runs)
        assert batched.root() == _mth(leaves[:hi])
    assert (batched.size, batched.hashes) == (cr.size, cr.hashes)
    assert made_b == made
    tree = StoredTree(store)
    n = len(leaves)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    assert tree.root(size) == _mth(leaves[:size])
    assert tree.inclusion_proof(index, size) == _path(index, leaves[:size])
    assert tree.consistency_proof(old, size) == merkle.consistency_proof(leaves[:size], old)
    assert merkle.verify_consistency(
        old, size, tree.root(old), tree.root(size), tree.consistency_proof(old, size)
    )
