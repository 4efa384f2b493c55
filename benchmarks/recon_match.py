"""Matching 1,000,000 gateway report lines against what Strongbox recorded.

    .venv/bin/python benchmarks/recon_match.py [--lines 1000000]

Builds N recorded objects (charges and refunds, 1 % without a gateway reference) and a report
of N lines in Stripe's itemized CSV format: 97 % exact, 1 % with another amount, 1 % with
another fee, 0.5 % listed twice, 0.5 % missing (plus as many unknown lines). Times the three
parts separately on one core: reading the CSV (``formats.parse``), matching
(``matching.match``) and the run report (``matching.summarize``); prints the outcome counts
and the peak RSS. The database side (loading lines and objects) is not in this figure.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import resource
import time
from datetime import UTC, datetime, timedelta

from strongbox.reconciliation import formats
from strongbox.reconciliation.matching import Item, match, summarize

DAY = "2026-01-15"
START = datetime(2026, 1, 15, tzinfo=UTC)


def build(n: int, rng: random.Random) -> tuple[list[Item], str]:
    items: list[Item] = []
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        ["balance_transaction_id", "created_utc", "currency", "gross", "fee", "net",
         "reporting_category", "source_id"]
    )  # fmt: skip
    for i in range(n):
        refund = rng.random() < 0.1
        amount = rng.randrange(100, 500_000)
        fee = 0 if refund else (amount * 290 + 5000) // 10000 + 30
        at = START + timedelta(seconds=rng.randrange(86_400))
        ref = None if rng.random() < 0.01 else f"ch_{i:09d}"
        items.append(
            Item(f"pi_{i:09d}", "refund" if refund else "charge", ref,
                 -amount if refund else amount, None if refund else fee, "usd", at)
        )  # fmt: skip
        fate = rng.random()
        if fate < 0.005:
            continue  # missing at the gateway
        gross, gfee = (-amount if refund else amount), fee
        if fate < 0.015:
            gross += 1
        elif fate < 0.025:
            gfee += 1
        rows = 2 if fate > 0.995 else 1
        stamp = (at + timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S")
        for _ in range(rows):
            w.writerow(
                [f"txn_{i:09d}", stamp, "usd", f"{gross / 100:.2f}", f"{gfee / 100:.2f}",
                 f"{(gross - gfee) / 100:.2f}", "refund" if refund else "charge",
                 ref or f"ch_gateway_{i:09d}"]
            )  # fmt: skip
        if fate < 0.005 + 0.005 and fate >= 0.005:
            w.writerow(
                [f"txn_x{i:09d}", stamp, "usd", "1.23", "0.00", "1.23", "charge", f"ch_x{i}"]
            )
    return items, out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=25)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    items, text = build(args.lines, rng)
    t1 = time.perf_counter()
    parsed = formats.parse(text)
    t2 = time.perf_counter()
    keyed = [(ln.line_id or str(ln.line_no), ln) for ln in parsed.lines]
    results = match(keyed, items, DAY)
    t3 = time.perf_counter()
    summary = summarize(results)
    t4 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"objects {len(items):,}  report lines {len(parsed.lines):,}  results {len(results):,}")
    print(f"generate {t1 - t0:6.1f} s (not part of the figure)")
    print(f"parse    {t2 - t1:6.1f} s  ({len(parsed.lines) / (t2 - t1):,.0f} lines/s)")
    print(f"match    {t3 - t2:6.1f} s  ({len(parsed.lines) / (t3 - t2):,.0f} lines/s)")
    print(f"report   {t4 - t3:6.1f} s")
    print(f"total    {t4 - t1:6.1f} s   peak RSS {rss_mb:,.0f} MB")
    print({k: v["count"] for k, v in summary.items()})


if __name__ == "__main__":
    main()
