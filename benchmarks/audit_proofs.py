"""Merkle appends and proof times at 1M and 10M leaves, against pymerkle in the same run.

Trees are built with the integrator's code path (``CompactRange.extend`` writing every
completed perfect subtree to a node store) in ``ArrayNodeStore`` (one bytearray per level in
memory) instead of ``DbNodeStore``; proofs go through the same ``StoredTree`` code that
serves ``/v1/audit/proofs/*`` from the database: the needed perfect-subtree nodes are
computed, fetched in one batch, and folded.

Append throughput: ours (``extend`` in batches of 5,000, leaf hashing included) and
pymerkle's ``InmemoryTree.append_entry`` on the same raw entries, alternated in rounds;
the best round of each is reported, with the ratio.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/audit_proofs.py [--sizes 1000000,10000000] [--pymerkle 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time

from strongbox.audit import merkle
from strongbox.audit.tree import ArrayNodeStore, StoredTree


def entries(start: int, n: int) -> list[bytes]:
    return [i.to_bytes(8, "big") for i in range(start, start + n)]


def ours_append(data: list[bytes], batch: int = 5000) -> tuple[float, StoredTree, bytes]:
    store = ArrayNodeStore()
    cr = merkle.CompactRange()
    sha = hashlib.sha256
    t = time.perf_counter()
    for i in range(0, len(data), batch):
        store.put_runs(cr.extend([sha(b"\x00" + d).digest() for d in data[i : i + batch]]))
    return time.perf_counter() - t, StoredTree(store), cr.root()


def pymerkle_append(data: list[bytes]) -> tuple[float, object, bytes]:
    from pymerkle import InmemoryTree

    tree = InmemoryTree()
    t = time.perf_counter()
    for d in data:
        tree.append_entry(d)
    elapsed = time.perf_counter() - t
    return elapsed, tree, bytes(tree.get_root())


def time_ms(fn: object, calls: list[tuple[int, int]]) -> tuple[float, float]:
    lat = []
    for a, b in calls:
        t = time.perf_counter()
        fn(a, b)  # type: ignore[operator]
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--pymerkle", type=int, default=100_000, help="leaves for the comparison")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--proofs", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(5)

    # 1. Append throughput vs pymerkle, same entries, alternating rounds.
    data = entries(0, args.pymerkle)
    best_ours = best_pm = float("inf")
    pm_tree = None
    for _ in range(args.rounds):
        t_ours, ours_tree, ours_root = ours_append(data)
        t_pm, pm_tree, pm_root = pymerkle_append(data)
        assert ours_root == pm_root, "both must build the same RFC 6962 tree"
        best_ours, best_pm = min(best_ours, t_ours), min(best_pm, t_pm)
    n = len(data)
    print(
        f"append {n} leaves: ours {n / best_ours:,.0f}/s, pymerkle {n / best_pm:,.0f}/s, "
        f"ratio {best_pm / best_ours:.1f}x",
        flush=True,
    )
    # pymerkle proofs at that size, for reference (1-based indexes in pymerkle).
    calls = [(rng.randrange(n), n) for _ in range(200)]
    med, p99 = time_ms(lambda i, s: pm_tree.prove_inclusion(i + 1, s), calls)  # type: ignore[union-attr]
    med_o, p99_o = time_ms(ours_tree.inclusion_proof, calls)
    print(
        f"inclusion proof at {n}: ours median {med_o:.3f} ms p99 {p99_o:.3f} ms; "
        f"pymerkle median {med:.3f} ms p99 {p99:.3f} ms",
        flush=True,
    )

    # 2. Proof times at 1M and 10M leaves.
    for size in (int(s) for s in args.sizes.split(",")):
        store = ArrayNodeStore()
        cr = merkle.CompactRange()
        sha = hashlib.sha256
        t = time.perf_counter()
        step = 50_000
        for i in range(0, size, step):
            chunk = entries(i, min(step, size - i))
            store.put_runs(cr.extend([sha(b"\x00" + d).digest() for d in chunk]))
        build = time.perf_counter() - t
        tree = StoredTree(store)
        root = tree.root(size)
        assert root == cr.root()
        inc = [(rng.randrange(size), size) for _ in range(args.proofs)]
        con = [(rng.randrange(1, size), size) for _ in range(args.proofs)]
        im, ip = time_ms(tree.inclusion_proof, inc)
        cm, cp = time_ms(tree.consistency_proof, con)
        # Spot-check correctness.
        i = inc[0][0]
        leaf = i.to_bytes(8, "big")
        assert merkle.verify_inclusion(leaf, i, size, tree.inclusion_proof(i, size), root)
        old = con[0][0]
        assert merkle.verify_consistency(
            old, size, tree.root(old), root, tree.consistency_proof(old, size)
        )
        print(
            f"{size:>10,} leaves (built in {build:.1f} s, {size / build:,.0f} appends/s): "
            f"inclusion median {im:.3f} ms p99 {ip:.3f} ms; "
            f"consistency median {cm:.3f} ms p99 {cp:.3f} ms",
            flush=True,
        )
        del store, tree


if __name__ == "__main__":
    main()
