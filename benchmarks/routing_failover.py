"""What failover costs a payment, measured through the HTTP API (in-process TestClient).

    .venv/bin/python benchmarks/routing_failover.py [--payments 100] [--latency-ms 20]

Two simulated gateways A and B with the same latency; routing prefers A. Sequential
create-and-confirm payments, per-payment latency for each case, against the healthy case in
the same run:

* healthy: A answers (baseline);
* 5xx, no retry: A refuses with a 503, failover to B (``STRONGBOX_GATEWAY_RETRIES=0``);
* 5xx, 2 retries: A refuses three times (backoff 50 ms initial), then B;
* refused connection: A's port is closed (the HTTP simulator connector), then B;
* circuit open: A's breaker is open, B is tried first.

The issue's bound: failover costs the affected payments at most one gateway timeout
(``STRONGBOX_GATEWAY_TIMEOUT_SECONDS``, 10 s by default).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.connectors.simulator import SimulatorConnector, SimulatorEngine
from strongbox.connectors.simulator.http import HttpSimulatorConnector
from strongbox.core.settings import Settings
from strongbox.routing.health import BreakerSettings
from strongbox.runtime import build_runtime


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: connections are refused


def run_case(name: str, payments: int, latency_ms: int, retries: int, setup: Any) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            run_workers=False,
            rate_limit_per_second=0,
            gateway_retries=retries,
            public_url="http://bench",
        )
        rt = build_runtime(settings)
        rt.payments.config = replace(rt.payments.config, retry_initial_seconds=0.05)
        a = SimulatorEngine(latency_ms=latency_ms)
        b = SimulatorEngine(latency_ms=latency_ms)
        rt.connectors.register("gw_a", lambda: SimulatorConnector(a))
        rt.connectors.register("gw_b", lambda: SimulatorConnector(b))
        rt.health.settings = BreakerSettings(fail_max=10**6, min_calls=10**6)
        with rt.db.unit_of_work() as uow:
            new = auth.create_merchant(uow, "bench")
            uow.commit()
        merchant_id = new.merchant.id
        headers = {"Authorization": f"Bearer {new.secret_key.reveal()}"}
        with TestClient(create_app(rt, run_workers=False)) as client:
            client.headers.update(headers)
            ids = [
                client.post("/v1/connector_accounts", data={"connector": c}).json()["id"]
                for c in ("gw_a", "gw_b")
            ]
            client.post("/v1/routing", json={"default": {"connectors": ids}})
            setup(rt, a, merchant_id, ids[0])
            samples = []
            for i in range(payments + 5):
                t0 = time.perf_counter()
                r = client.post(
                    "/v1/payment_intents",
                    data={
                        "amount": "2000",
                        "currency": "usd",
                        "payment_method": "pm_card_visa",
                        "confirm": "true",
                    },
                )
                elapsed = time.perf_counter() - t0
                if r.status_code != 200 or r.json()["status"] != "succeeded":
                    raise SystemExit(f"{name}: unexpected answer {r.status_code} {r.text}")
                if i >= 5:
                    samples.append(elapsed * 1000)
        charged_b = sum(1 for c in b.charges() if c.captured_amount)
        charged_a = sum(1 for c in a.charges() if c.captured_amount)
        rt.close()
    print(
        f"{name:22s} p50={statistics.median(samples):7.1f}ms "
        f"p99={sorted(samples)[int(len(samples) * 0.99) - 1]:7.1f}ms "
        f"charged A={charged_a} B={charged_b}"
    )
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--payments", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=20)
    args = ap.parse_args()
    n, lat = args.payments, args.latency_ms

    def nothing(*_: Any) -> None:
        return None

    def refuse(rt: Any, a: SimulatorEngine, *_: Any) -> None:
        a.inject("error_5xx", count=10**6)

    def refused_connection(rt: Any, *_: Any) -> None:
        port = closed_port()
        rt.connectors.register(
            "gw_a",
            lambda: HttpSimulatorConnector(f"http://127.0.0.1:{port}", connect_timeout=3),
        )

    def circuit_open(rt: Any, a: SimulatorEngine, merchant: str, account: str) -> None:
        rt.health.settings = BreakerSettings(fail_max=1, reset_seconds=3600, min_calls=10**6)
        a.inject("error_5xx", count=1)  # the first payment opens A's circuit

    base = statistics.median(run_case("healthy (baseline)", n, lat, 0, nothing))
    for name, retries, setup in (
        ("5xx, no retry", 0, refuse),
        ("5xx, 2 retries", 2, refuse),
        ("refused connection", 0, refused_connection),
        ("circuit open", 0, circuit_open),
    ):
        cost = statistics.median(run_case(name, n, lat, retries, setup)) - base
        print(f"{'':22s} failover cost (p50 - baseline p50) = {cost:.1f}ms")


if __name__ == "__main__":
    main()
