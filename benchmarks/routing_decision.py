"""Routing decision latency, in process: ``routing.engine.decide`` on a realistic config.

    .venv/bin/python benchmarks/routing_decision.py [--calls 200000]

A config of 12 rules (currency, amount range, brand, country, metadata) with the match at the
last rule and a weighted default over 3 connectors, one circuit open. Reported: p50/p99/p99.9
per decision (timed one by one with perf_counter_ns), against a baseline in the same run: the
same loop calling a function that only builds the facts' hash (blake2b of the payment id),
the one piece of work a weighted split cannot avoid.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

from strongbox.connectors.base import Capability
from strongbox.routing.config import RoutingConfigIn, compile_config
from strongbox.routing.engine import Candidate, PaymentFacts, decide

CAPS = Capability.MANUAL_CAPTURE | Capability.REFUND


def build() -> tuple[object, dict[str, Candidate]]:
    ids = ["mca_stripe", "mca_braintree", "mca_sim", "mca_backup"]
    rules = [
        {
            "name": f"rule-{i}",
            "when": {
                "currency": ["eur", "gbp"],
                "amount_gte": 1000 * i,
                "amount_lte": 1000 * i + 500,
                "brand": ["visa", "mastercard"],
                "card_country": ["DE", "FR", "NL"],
                "metadata": {"channel": f"c{i}"},
            },
            "connectors": ids[:2],
        }
        for i in range(11)
    ]
    rules.append({"name": "usd", "when": {"currency": ["usd"]}, "connectors": ids[1:]})
    config = RoutingConfigIn.model_validate(
        {
            "rules": rules,
            "default": {"connectors": ids, "weights": {ids[0]: 60, ids[1]: 30, ids[2]: 10}},
        }
    )
    candidates = {i: Candidate(i, i.removeprefix("mca_"), CAPS) for i in ids}
    return compile_config(config), candidates


def percentiles(samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    n = len(s)
    return {
        "p50_us": s[n // 2] / 1000,
        "p99_us": s[int(n * 0.99)] / 1000,
        "p999_us": s[int(n * 0.999)] / 1000,
        "mean_us": statistics.fmean(s) / 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000)
    args = ap.parse_args()
    compiled, candidates = build()
    opened = frozenset({"mca_braintree"})
    facts = [
        PaymentFacts(
            payment_id=f"pi_{i:024d}",
            amount=1000 + i % 50_000,
            currency=("usd", "eur", "jpy")[i % 3],
            brand="visa",
            card_country="DE",
            metadata={"channel": "web"},
        )
        for i in range(1000)
    ]

    def baseline(f: PaymentFacts) -> int:
        digest = hashlib.blake2b(f"default|{f.payment_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % 100

    for label, fn in (
        ("baseline (hash only)", baseline),
        ("decide", lambda f: decide(f, compiled, candidates, opened)),  # type: ignore[arg-type]
    ):
        for f in facts:  # warm-up
            fn(f)
        samples = []
        clock = time.perf_counter_ns
        for i in range(args.calls):
            f = facts[i % 1000]
            t0 = clock()
            fn(f)
            samples.append(clock() - t0)
        stats = percentiles(samples)
        print(
            f"{label:22s} calls={args.calls} p50={stats['p50_us']:.2f}us "
            f"p99={stats['p99_us']:.2f}us p99.9={stats['p999_us']:.2f}us "
            f"mean={stats['mean_us']:.2f}us"
        )
        if label == "decide":
            print(f"target p99 < 50us: {'reached' if stats['p99_us'] < 50 else 'NOT reached'}")


if __name__ == "__main__":
    main()
