"""CPU per create-and-confirm, vaulted card vs test payment method, in one process.

    .venv/bin/python benchmarks/vault_confirm_cpu.py [--batches 8] [--per-batch 40]

Drives the API in-process (Starlette TestClient, SQLite, in-process simulator), alternating
batches of payments with ``pm_card_visa`` and with a ``pm_…`` tokenized through
``POST /v1/payment_methods``, and compares the process CPU time per payment. Alternating small
batches makes the comparison robust on a shared machine, where wall-clock throughput is not.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.core.settings import Settings
from strongbox.runtime import build_runtime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--per-batch", type=int, default=40)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="strongbox-vault-confirm-"))
    rt = build_runtime(Settings(data_dir=root, run_workers=False, rate_limit_per_second=0))
    with rt.db.unit_of_work() as uow:
        new = auth.create_merchant(uow, "bench")
        uow.commit()
    headers = {"Authorization": f"Bearer {new.secret_key.reveal()}"}
    with TestClient(create_app(rt, run_workers=False)) as client:
        r = client.post(
            "/v1/payment_methods",
            headers={"Authorization": f"Bearer {new.publishable_key.reveal()}"},
            data={
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
        vaulted = r.json()["id"]

        def batch(pm: str) -> float:
            start = time.process_time()
            for _ in range(args.per_batch):
                resp = client.post(
                    "/v1/payment_intents",
                    headers=headers,
                    data={
                        "amount": "2000",
                        "currency": "usd",
                        "payment_method": pm,
                        "confirm": "true",
                    },
                )
                assert resp.status_code == 200, resp.text
            return (time.process_time() - start) / args.per_batch * 1000

        batch("pm_card_visa")
        batch(vaulted)  # warm-up
        ratios = []
        test_ms: list[float] = []
        vault_ms: list[float] = []
        for i in range(args.batches):
            if i % 2:
                v, t = batch(vaulted), batch("pm_card_visa")
            else:
                t, v = batch("pm_card_visa"), batch(vaulted)
            test_ms.append(t)
            vault_ms.append(v)
            ratios.append(t / v)
    rt.close()
    print(
        f"CPU ms per payment: test {statistics.median(test_ms):.2f}, "
        f"vaulted {statistics.median(vault_ms):.2f}"
    )
    m = statistics.median(ratios)
    print(
        f"median test/vaulted CPU ratio = {m:.3f} (vaulted within 15%: "
        f"{'reached' if m >= 0.85 else 'NOT reached'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
