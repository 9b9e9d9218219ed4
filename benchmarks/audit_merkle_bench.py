"""Benchmark of the pure RFC 9162 Merkle core (no database).

    python benchmarks/audit_merkle_bench.py [--leaves 1000000] [--samples 10000] [--json OUT]

Measures, on one core:
- `root_from_leaves` over N leaf hashes (the inner loop of `callwarden audit verify`);
- building an `InMemoryTree` of N leaves (what offline bundle verification does);
- `inclusion_proof` and `verify_inclusion` latency, p50/p99 over random leaves of that tree;
- `consistency_proof` and `verify_consistency` latency between random sizes.
Leaf hashing (SHA-256 of event bytes) is set-up here and is not timed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable

from callwarden.audit.merkle import (
    InMemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)


def _percentiles(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    return {
        "p50_us": round(ordered[len(ordered) // 2], 2),
        "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_us": round(ordered[-1], 2),
        "mean_us": round(statistics.fmean(ordered), 2),
    }


def _time_each(fn: Callable[[int], None], args: list[int]) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for a in args:
        t0 = clock()
        fn(a)
        out.append((clock() - t0) / 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description="Benchmark of the pure RFC 9162 Merkle core.")
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    n, rng = args.leaves, random.Random(args.seed)

    leaves = [leaf_hash(b"event %d" % i) for i in range(n)]

    t0 = time.perf_counter()
    expected = root_from_leaves(leaves)
    t_root = time.perf_counter() - t0

    t0 = time.perf_counter()
    tree = InMemoryTree(leaves)
    t_build = time.perf_counter() - t0
    assert tree.root() == expected

    indices = [rng.randrange(n) for _ in range(args.samples)]
    proofs: dict[int, list[bytes]] = {}

    def make_proof(i: int) -> None:
        proofs[i] = inclusion_proof(i, n, tree)

    def check_proof(i: int) -> None:
        verify_inclusion(leaves[i], i, n, proofs[i], expected)

    incl_gen = _time_each(make_proof, indices)
    incl_ver = _time_each(check_proof, indices)

    olds = [rng.randrange(1, n + 1) for _ in range(args.samples)]
    roots = {m: root(m, tree) for m in olds}
    cproofs: dict[int, list[bytes]] = {}

    def make_cproof(m: int) -> None:
        cproofs[m] = consistency_proof(m, n, tree)

    def check_cproof(m: int) -> None:
        verify_consistency(m, n, roots[m], expected, cproofs[m])

    cons_gen = _time_each(make_cproof, olds)
    cons_ver = _time_each(check_cproof, olds)

    figures = {
        "leaves": n,
        "python": sys.version.split()[0],
        "root_from_leaves_s": round(t_root, 3),
        "root_from_leaves_leaves_per_s": round(n / t_root),
        "in_memory_tree_build_s": round(t_build, 3),
        "inclusion_proof": _percentiles(incl_gen),
        "verify_inclusion": _percentiles(incl_ver),
        "inclusion_proof_plus_verify_p50_us": round(
            statistics.median(a + b for a, b in zip(incl_gen, incl_ver, strict=True)), 2
        ),
        "consistency_proof": _percentiles(cons_gen),
        "verify_consistency": _percentiles(cons_ver),
        "samples": args.samples,
    }
    print(f"leaves                       {n:,}")
    print(f"root_from_leaves             {t_root:.3f} s  ({n / t_root:,.0f} leaves/s)")
    print(f"InMemoryTree build           {t_build:.3f} s")
    for name in ("inclusion_proof", "verify_inclusion", "consistency_proof", "verify_consistency"):
        f = figures[name]
        assert isinstance(f, dict)
        print(
            f"{name:<28} p50 {f['p50_us']:>7.1f} µs   p99 {f['p99_us']:>7.1f} µs"
            f"   max {f['max_us']:>8.1f} µs"
        )
    print(f"inclusion proof + verify p50 {figures['inclusion_proof_plus_verify_p50_us']:.1f} µs")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
