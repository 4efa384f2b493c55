"""Chaos: two simulator HTTP services as two gateways; one fails in every way under load.

2,000 payments go through Strongbox's HTTP API (8 concurrent clients) with a 50/50 volume
split over gateway A (healthy) and gateway B, which goes through phases: healthy, a 5xx
outage, slowness (slow but in time), a burst of timeouts (requests hang unprocessed), dropped
responses after charging, healthy again. Then the recovery worker finishes what is pending.

Checked against each simulator's own record of charges:
* 0 double charges: no payment has more than one capture across both gateways, every
  succeeded payment has exactly one, for its amount, at the gateway Strongbox recorded;
  no failed payment was charged anywhere;
* every payment is final or recoverable before recovery, and final after it;
* ≥ 99% succeed (failover to A while B is down).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from strongbox.connectors.base import OperationKind
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer, HttpSimulatorConnector
from strongbox.core.settings import Settings
from strongbox.payments.models import PaymentAttempt, PaymentIntent
from strongbox.runtime import Runtime, build_runtime
from strongbox.workers.recovery import recover_once
from support import LiveServer, make_merchant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PAYMENTS = 2000
CLIENTS = 8
READ_TIMEOUT = 0.5
HANG = 1.0  # the failing gateway holds hung requests longer than we wait


@dataclass(frozen=True)
class Snap:
    id: str
    status: str
    connector_account_id: str | None
    amount: int
    amount_received: int


@dataclass
class Phase:
    name: str
    payments: int
    apply: Any  # callable(engine_b) -> None


def healthy(engine: SimulatorEngine) -> None:
    engine.clear_faults()
    engine.set_latency(0)


def outage_5xx(engine: SimulatorEngine) -> None:
    engine.clear_faults()
    engine.inject("error_5xx", count=1_000_000)


def slow(engine: SimulatorEngine) -> None:
    engine.clear_faults()
    engine.set_latency(150, 100)  # 150-250 ms: slow but inside the 500 ms timeout


def timeouts(engine: SimulatorEngine) -> None:
    engine.set_latency(0)
    engine.inject("timeout", operations={OperationKind.AUTHORIZE}, count=6)


def dropped(engine: SimulatorEngine) -> None:
    engine.clear_faults()
    engine.inject("drop_response", operations={OperationKind.AUTHORIZE}, count=25)


PHASES = [
    Phase("healthy", 300, healthy),
    Phase("5xx outage", 400, outage_5xx),
    Phase("slowness", 300, slow),
    Phase("timeouts", 300, timeouts),
    Phase("dropped responses", 300, dropped),
    Phase("healthy again", 400, healthy),
]
assert sum(p.payments for p in PHASES) == PAYMENTS


@pytest.fixture
def gateways() -> Iterator[tuple[BackgroundServer, BackgroundServer]]:
    a = BackgroundServer(SimulatorEngine(hang_seconds=HANG))
    b = BackgroundServer(SimulatorEngine(hang_seconds=HANG))
    with a, b:
        yield a, b


@pytest.fixture
def chaos_runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(
        settings.model_copy(
            update={
                "gateway_retries": 1,
                "gateway_timeout_seconds": READ_TIMEOUT,
                "gateway_connect_timeout_seconds": 0.5,
                "circuit_fail_max": 3,
                "circuit_reset_seconds": 1.0,
                "circuit_min_calls": 20,
                "circuit_window": 40,
                "rate_limit_per_second": 0,
                "threads": CLIENTS * 2,
            }
        )
    )
    rt.payments.config = replace(
        rt.payments.config, retry_initial_seconds=0.005, retry_max_seconds=0.02
    )
    yield rt
    rt.close()


def test_two_gateways_one_failing_in_every_way(
    chaos_runtime: Runtime, gateways: tuple[BackgroundServer, BackgroundServer]
) -> None:
    rt = chaos_runtime
    server_a, server_b = gateways
    for name, server in (("gw_a", server_a), ("gw_b", server_b)):
        url = server.url
        rt.connectors.register(
            name,
            lambda url=url: HttpSimulatorConnector(
                url, connect_timeout=0.5, read_timeout=READ_TIMEOUT
            ),
        )
    merchant = make_merchant(rt)
    started = time.monotonic()
    with LiveServer(rt) as live:
        headers = merchant.headers
        with httpx.Client(base_url=live.url, headers=headers, timeout=30) as admin:
            ids = []
            for connector in ("gw_a", "gw_b"):
                r = admin.post("/v1/connector_accounts", data={"connector": connector})
                assert r.status_code == 200, r.text
                ids.append(r.json()["id"])
            acct_a, acct_b = ids
            r = admin.post(
                "/v1/routing",
                json={
                    "default": {"connectors": [acct_a, acct_b], "weights": {acct_a: 1, acct_b: 1}}
                },
            )
            assert r.status_code == 200, r.text

        clients = [
            httpx.Client(base_url=live.url, headers=headers, timeout=30) for _ in range(CLIENTS)
        ]

        def pay(i: int) -> tuple[int, dict[str, Any]]:
            client = clients[i % CLIENTS]
            r = client.post(
                "/v1/payment_intents",
                data={
                    "amount": str(1000 + i),
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                },
                headers={"Idempotency-Key": f"chaos-{uuid.uuid4().hex}"},
            )
            return r.status_code, r.json()

        results: list[tuple[int, dict[str, Any]]] = []
        n = 0
        with ThreadPoolExecutor(CLIENTS) as pool:
            for phase in PHASES:
                phase.apply(server_b.engine)
                results += list(pool.map(pay, range(n, n + phase.payments)))
                n += phase.payments
        for c in clients:
            c.close()
    load_seconds = time.monotonic() - started

    statuses = Counter(code for code, _ in results)
    assert set(statuses) <= {200, 402, 502}, statuses  # never a 500
    intent_ids = [(body.get("id") or body["error"]["payment_intent"]["id"]) for _, body in results]
    assert len(set(intent_ids)) == PAYMENTS

    def snapshot() -> dict[str, Snap]:
        with rt.db.reader() as uow:
            rows = uow.session.query(PaymentIntent).filter_by(merchant_id=merchant.id).all()
            return {
                pi.id: Snap(
                    pi.id, pi.status, pi.connector_account_id, pi.amount, pi.amount_received
                )
                for pi in rows
            }

    before = snapshot()
    recoverable = Counter(pi.status for pi in before.values())
    assert set(recoverable) <= {"succeeded", "requires_payment_method", "processing"}, recoverable

    # Recovery: ask the gateways what became of every unknown outcome; never charge again.
    for _ in range(20):
        if recover_once(rt, min_age=timedelta(0), limit=200) == 0:
            break
    after = snapshot()
    final = Counter(pi.status for pi in after.values())
    assert set(final) <= {"succeeded", "requires_payment_method"}, final
    with rt.db.reader() as uow:
        open_attempts = (
            uow.session.query(PaymentAttempt)
            .filter(PaymentAttempt.status.in_(("started", "unknown")))
            .count()
        )
    assert open_attempts == 0

    # The gateways' own records against Strongbox's.
    connector_of = {acct_a: "gw_a", acct_b: "gw_b"}
    captured: dict[str, list[tuple[str, int]]] = {}
    for name, engine in (("gw_a", server_a.engine), ("gw_b", server_b.engine)):
        for charge in engine.charges():
            if charge.captured_amount > 0:
                captured.setdefault(charge.payment_id, []).append((name, charge.captured_amount))
    doubles = {pid: c for pid, c in captured.items() if len(c) > 1}
    assert doubles == {}
    for pi in after.values():
        charges = captured.get(pi.id, [])
        if pi.status == "succeeded":
            assert charges == [(connector_of[pi.connector_account_id or ""], pi.amount)], pi.id
            assert pi.amount_received == pi.amount
        else:
            assert charges == [], pi.id

    succeeded = final["succeeded"]
    rate = succeeded / PAYMENTS
    with rt.db.reader() as uow:
        failovers = (
            uow.session.query(PaymentAttempt)
            .filter(PaymentAttempt.routing_reason.like("failover%"))
            .count()
        )
    print(
        f"\nchaos: {PAYMENTS} payments in {load_seconds:.1f}s, "
        f"before recovery {dict(recoverable)}, after {dict(final)}, "
        f"success {rate:.2%}, failovers {failovers}, "
        f"B charged {sum(1 for c in server_b.engine.charges() if c.captured_amount)}"
    )
    assert rate >= 0.99
    assert failovers > 0
    assert recoverable["processing"] > 0  # the dropped responses were really pending
