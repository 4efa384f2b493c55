"""The budget of a payment's path (issue 24): SQL statements, round trips and transactions per
request, counted at the driver (``strongbox.db.trace``), on both backends.

A change that adds work to the path raises the number here in its own change, with the
reason beside it. Counts are the most any one request of a few took, after warm-up (the
first payment of a merchant creates its ledger accounts; caches fill), with the routing
configuration's one-second cache held still so that a slow machine does not refresh it
mid-measure. On SQLite a "round trip" is a call into the library (in-process).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.db.trace import Counts, DriverTrace
from strongbox.runtime import Runtime


@dataclass(frozen=True)
class Budget:
    statements: int
    round_trips: int
    transactions: int


BUDGETS: dict[tuple[str, str], Budget] = {
    # create + confirm (automatic capture). [tx 1] BEGIN, the key, the outbox event, the key's
    # recovery point, intent, payment method, attempt, history (one INSERT of its rows), the
    # audit entries (one INSERT), COMMIT. [gateway] [tx 2] BEGIN, attempt and intent (locked),
    # the ledger (balances with the overflow guard, the transfer), the outbox event, the
    # response on the key, attempt, intent, history, audit, COMMIT. On PostgreSQL the writes
    # queued last (history, audit, the unguarded updates) go with the COMMIT in one pipeline.
    ("create_confirm", "sqlite"): Budget(statements=22, round_trips=22, transactions=2),
    ("create_confirm", "postgresql"): Budget(statements=21, round_trips=9, transactions=2),
    # capture of an authorization: as above without the intent's creation, and the ledger
    # looks up the authorization it posts.
    ("capture", "sqlite"): Budget(statements=20, round_trips=20, transactions=2),
    ("capture", "postgresql"): Budget(statements=19, round_trips=11, transactions=2),
    # refund: [tx 1] the refund, its attempt, the ledger's pending transfer; [tx 2] the refund
    # settled, the ledger's post, two events (refund.updated, charge.refunded).
    ("refund", "sqlite"): Budget(statements=28, round_trips=28, transactions=2),
    ("refund", "postgresql"): Budget(statements=26, round_trips=14, transactions=2),
    # retrieve: the intent, read in a read-only transaction.
    ("retrieve", "sqlite"): Budget(statements=3, round_trips=3, transactions=1),
    ("retrieve", "postgresql"): Budget(statements=4, round_trips=4, transactions=1),
}

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}
SAMPLES = 5


def _worst(trace: DriverTrace, requests: list[Callable[[], Any]]) -> Counts:
    worst = Counts()
    for request in requests:
        before = trace.counts()
        r = request()
        assert r.status_code == 200, r.text
        used = trace.counts() - before
        worst = Counts(
            max(worst.statements, used.statements),
            max(worst.round_trips, used.round_trips),
            max(worst.transactions, used.transactions),
        )
    return worst


def _keyed(api: TestClient, path: str, data: dict[str, str], n: int) -> Callable[[], Any]:
    return lambda: api.post(path, data=data, headers={"Idempotency-Key": f"budget-{path}-{n}"})


@pytest.fixture
def warm(api: TestClient, runtime: Runtime) -> TestClient:
    assert runtime.routing is not None
    runtime.routing.monotonic = lambda: 0.0  # the routing cache never expires mid-measure
    for i in range(3):
        assert _keyed(api, "/v1/payment_intents", PAY, 1000 + i)().status_code == 200
    manual = api.post("/v1/payment_intents", data={**PAY, "capture_method": "manual"}).json()
    api.post(f"/v1/payment_intents/{manual['id']}/capture", data={})
    done = api.post("/v1/payment_intents", data=PAY).json()
    api.post("/v1/refunds", data={"payment_intent": done["id"], "amount": "100"})
    return api


def _check(operation: str, runtime: Runtime, used: Counts) -> None:
    budget = BUDGETS[(operation, runtime.db.engine.dialect.name)]
    assert (used.statements, used.round_trips, used.transactions) <= (
        budget.statements,
        budget.round_trips,
        budget.transactions,
    ), f"{operation} on {runtime.db.engine.dialect.name}: {used} over {budget}"
    assert used.statements <= budget.statements
    assert used.round_trips <= budget.round_trips
    assert used.transactions <= budget.transactions


def test_create_and_confirm(warm: TestClient, runtime: Runtime) -> None:
    with DriverTrace(runtime.db.engine) as trace:
        used = _worst(trace, [_keyed(warm, "/v1/payment_intents", PAY, i) for i in range(SAMPLES)])
    _check("create_confirm", runtime, used)


def test_capture(warm: TestClient, runtime: Runtime) -> None:
    ids = [
        warm.post("/v1/payment_intents", data={**PAY, "capture_method": "manual"}).json()["id"]
        for _ in range(SAMPLES)
    ]
    with DriverTrace(runtime.db.engine) as trace:
        used = _worst(
            trace,
            [_keyed(warm, f"/v1/payment_intents/{pi}/capture", {}, i) for i, pi in enumerate(ids)],
        )
    _check("capture", runtime, used)


def test_refund(warm: TestClient, runtime: Runtime) -> None:
    ids = [warm.post("/v1/payment_intents", data=PAY).json()["id"] for _ in range(SAMPLES)]
    with DriverTrace(runtime.db.engine) as trace:
        used = _worst(
            trace,
            [
                _keyed(warm, "/v1/refunds", {"payment_intent": pi, "amount": "500"}, i)
                for i, pi in enumerate(ids)
            ],
        )
    _check("refund", runtime, used)


def test_retrieve(warm: TestClient, runtime: Runtime) -> None:
    pi = warm.post("/v1/payment_intents", data=PAY).json()["id"]
    with DriverTrace(runtime.db.engine) as trace:
        used = _worst(
            trace, [lambda: warm.get(f"/v1/payment_intents/{pi}") for _ in range(SAMPLES)]
        )
    _check("retrieve", runtime, used)


def test_the_trace_counts_what_the_driver_runs(runtime: Runtime) -> None:
    """The counter itself: one known transaction, counted exactly."""
    import sqlalchemy as sa

    with DriverTrace(runtime.db.engine) as trace, runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.text("SELECT 1"))
        uow.session.execute(sa.text("SELECT 2"))
        uow.commit()
    counts = trace.counts()
    if runtime.db.engine.dialect.name == "sqlite":  # BEGIN IMMEDIATE, 2 SELECTs, COMMIT
        assert (counts.statements, counts.round_trips, counts.transactions) == (4, 4, 1)
    else:  # BEGIN, 2 SELECTs, COMMIT, each waited for
        assert (counts.statements, counts.round_trips, counts.transactions) == (4, 4, 1)
    assert counts.by_kind["SELECT"] == 2
