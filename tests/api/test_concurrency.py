"""Races over real HTTP (a live server, parallel clients), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import select

from strongbox.idempotency.models import IdempotencyKey
from strongbox.runtime import Runtime
from support import LiveServer as Server
from support import Merchant, wait_until

PAY = {"amount": "10000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def _post(
    server: Server, m: Merchant, path: str, data: dict[str, str], key: str | None = None
) -> httpx.Response:
    headers = dict(m.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return c.post(path, data=data, headers=headers)


def _parallel(n: int, fn: Any) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _i: fn(), range(n)))


def _key_taken(runtime: Runtime, key: str, first: Future[httpx.Response]) -> bool:
    """The first request's key is stored (its first transaction committed)."""
    assert not first.done(), "the first request ended before its key was seen"
    with runtime.db.reader() as uow:
        stmt = select(IdempotencyKey.id).where(IdempotencyKey.key == key)
        return uow.session.scalar(stmt) is not None


def test_parallel_requests_with_one_key_execute_once(
    live_server: Server, merchant: Merchant, runtime: Runtime
) -> None:
    assert runtime.simulator is not None
    # The first request holds its key at the gateway for 3 s; the other eleven are sent once
    # its key is taken, so they arrive while it executes, however slow the machine is to
    # start threads and connections (a 50 ms window sometimes closed before they arrived).
    runtime.simulator.set_latency(3000)
    with ThreadPoolExecutor(max_workers=12) as pool:
        first = pool.submit(_post, live_server, merchant, "/v1/payment_intents", PAY, "one-key")
        wait_until(lambda: _key_taken(runtime, "one-key", first), "the key taken")
        rest = [
            pool.submit(_post, live_server, merchant, "/v1/payment_intents", PAY, "one-key")
            for _ in range(11)
        ]
        results = [first.result(), *(f.result() for f in rest)]
    runtime.simulator.set_latency(0)
    statuses = Counter(r.status_code for r in results)
    assert set(statuses) <= {200, 409}, statuses
    ids = {r.json()["id"] for r in results if r.status_code == 200}
    assert len(ids) == 1
    assert statuses[409] >= 1  # at least one arrived while the first was executing
    for r in results:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_key_in_use"
    assert len(runtime.simulator.charges()) == 1
    # Once finished, every retry replays.
    again = _post(live_server, merchant, "/v1/payment_intents", PAY, "one-key")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] in ids


def test_parallel_refunds_never_exceed_the_captured_amount(
    live_server: Server, merchant: Merchant, runtime: Runtime
) -> None:
    pi = _post(live_server, merchant, "/v1/payment_intents", PAY).json()
    assert pi["status"] == "succeeded"
    results = _parallel(
        10,
        lambda: _post(
            live_server, merchant, "/v1/refunds", {"payment_intent": pi["id"], "amount": "3000"}
        ),
    )
    ok = [r for r in results if r.status_code == 200]
    refused = [r for r in results if r.status_code != 200]
    assert len(ok) == 3
    assert all(r.status_code == 400 for r in refused)
    assert {r.json()["error"]["code"] for r in refused} <= {"amount_too_large"}
    with httpx.Client(base_url=live_server.url, headers=merchant.headers) as c:
        after = c.get(f"/v1/payment_intents/{pi['id']}").json()
        refunds = c.get("/v1/refunds", params={"payment_intent": pi["id"], "limit": 100}).json()
    assert sum(r["amount"] for r in refunds["data"] if r["status"] == "succeeded") == 9000
    assert after["amount_received"] == 10000
    assert runtime.simulator is not None
    charge = runtime.simulator.charges()[0]
    assert charge.refunded_amount == 9000


def test_parallel_capture_and_cancel_exactly_one_wins(
    live_server: Server, merchant: Merchant, runtime: Runtime
) -> None:
    assert runtime.simulator is not None
    runtime.simulator.set_latency(20)
    for _ in range(4):
        pi = _post(
            live_server, merchant, "/v1/payment_intents", {**PAY, "capture_method": "manual"}
        ).json()
        assert pi["status"] == "requires_capture"
        paths = [
            f"/v1/payment_intents/{pi['id']}/capture",
            f"/v1/payment_intents/{pi['id']}/cancel",
        ]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda p: _post(live_server, merchant, p, {}), paths))
        winners = [r for r in results if r.status_code == 200]
        losers = [r for r in results if r.status_code != 200]
        assert len(winners) == 1, [r.text for r in results]
        assert losers[0].status_code == 400
        assert losers[0].json()["error"]["code"] == "payment_intent_unexpected_state"
        final = winners[0].json()["status"]
        assert final in {"succeeded", "canceled"}
        charge = next(c for c in runtime.simulator.charges() if c.payment_id == pi["id"])
        if final == "succeeded":
            assert charge.captured_amount == 10000
            assert not charge.voided
        else:
            assert charge.captured_amount == 0
            assert charge.voided


def test_parallel_distinct_payments_all_succeed(
    live_server: Server, merchant: Merchant, runtime: Runtime
) -> None:
    counter = iter(range(1000))
    results = _parallel(
        16,
        lambda: _post(live_server, merchant, "/v1/payment_intents", PAY, f"k-{next(counter)}"),
    )
    assert [r.status_code for r in results] == [200] * 16
    assert {r.json()["status"] for r in results} == {"succeeded"}
    assert len({r.json()["id"] for r in results}) == 16
    assert runtime.simulator is not None
    assert len(runtime.simulator.charges()) == 16
