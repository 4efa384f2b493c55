"""The nightly fetch: Stripe's balance transactions over its API (the local fake, a real HTTP
server), retried while Stripe is unavailable, imported and matched; a fetch that cannot
complete leaves a failed run naming the part that failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from recon_helpers import counts, exceptions, pay, refund

from connectors.fakes.stripe_fake import StripeFake
from strongbox.reconciliation.tasks import FetchPolicy, nightly_once, reconcile_from_gateway
from strongbox.runtime import Runtime
from support import Merchant

KEY = "sk_test_recon0000000000000001"
FAST = FetchPolicy(attempts=4, backoff_seconds=0.001, max_backoff_seconds=0.01)


def stripe_account(api: TestClient) -> str:
    r = api.post(
        "/v1/connector_accounts", data={"connector": "stripe", "credentials[api_key]": KEY}
    )
    assert r.status_code == 200, r.text
    acct: str = r.json()["id"]
    r = api.post("/v1/routing", json={"default": {"connectors": [acct]}})
    assert r.status_code == 200, r.text
    return acct


def _fetch(runtime: Runtime, merchant: Merchant, account: str, **kw: Any) -> dict[str, Any]:
    return reconcile_from_gateway(
        runtime.db,
        runtime.routing,
        runtime.connectors,
        merchant.id,
        account,
        datetime.now(UTC).date(),
        **{"policy": FAST, **kw},
    )


def test_a_day_fetched_from_stripe_matches_payments_and_refunds(
    api: TestClient, runtime: Runtime, merchant: Merchant, stripe: StripeFake
) -> None:
    account = stripe_account(api)
    p1, p2 = pay(api, 2500), pay(api, 1200)
    # Two refunds of one payment: Stripe names both by the payment's reference.
    refund(api, p1["id"], 300)
    refund(api, p1["id"], 200)
    stripe.balance_outages = 2  # answered with 503 twice: retried
    body = _fetch(runtime, merchant, account)
    assert stripe.balance_outages == 0
    assert body["status"] == "completed", body
    assert counts(body) == {"matched": 4}
    assert body["open_exceptions"] == 0
    # Fetched again: nothing new is imported, the day is matched again.
    again = _fetch(runtime, merchant, account)
    assert counts(again) == {"matched": 4}
    assert api.get(f"/v1/reconciliation/runs/{body['id']}").json()["superseded"] is True
    imports = api.get("/v1/reconciliation/report_imports").json()["data"]
    assert [i["format"] for i in imports] == ["stripe_balance_transactions"]
    assert p2["id"]


def test_fees_stripe_reports_are_compared(
    api: TestClient, runtime: Runtime, merchant: Merchant, stripe: StripeFake
) -> None:
    account = stripe_account(api)
    pay(api, 10000)
    stripe.fee_bps, stripe.fee_fixed = 290, 30  # Strongbox's schedule for this merchant is 0
    body = _fetch(runtime, merchant, account)
    assert counts(body) == {"fee_mismatch": 1}
    [exc] = exceptions(api, status="open")
    assert (exc["strongbox_fee"], exc["gateway_fee"]) == (0, 320)


def test_a_fetch_that_keeps_failing_leaves_a_failed_run(
    api: TestClient, runtime: Runtime, merchant: Merchant, stripe: StripeFake
) -> None:
    account = stripe_account(api)
    pay(api, 700)
    stripe.balance_outages = 100
    body = _fetch(runtime, merchant, account)
    assert body["status"] == "failed"
    assert body["failure"]["stage"] == "fetch"
    assert body["failure"]["message"].startswith("gave up after 4 attempt(s)")
    assert stripe.balance_outages == 96  # four tries, no more
    listed = api.get("/v1/reconciliation/runs").json()["data"]
    assert [r["status"] for r in listed] == ["failed"]
    # The next night's pass finds no completed run of that day and tries again.
    stripe.balance_outages = 0
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert (
        nightly_once(
            runtime.db, runtime.routing, runtime.connectors, now=tomorrow, after_hour=0, policy=FAST
        )
        == 1
    )
    runs = api.get("/v1/reconciliation/runs").json()["data"]
    assert [(r["status"], r["superseded"]) for r in runs] == [
        ("completed", False),
        ("failed", True),
    ]
    assert (
        nightly_once(
            runtime.db, runtime.routing, runtime.connectors, now=tomorrow, after_hour=0, policy=FAST
        )
        == 0
    )
    # Before the configured hour nothing is fetched.
    early = tomorrow.replace(hour=1)
    assert (
        nightly_once(
            runtime.db, runtime.routing, runtime.connectors, now=early, after_hour=3, policy=FAST
        )
        == 0
    )


def test_a_connector_without_an_api_says_so(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    r = api.post("/v1/connector_accounts", data={"connector": "simulator"})
    body = _fetch(runtime, merchant, r.json()["id"])
    assert (body["status"], body["failure"]["stage"]) == ("failed", "fetch")
    assert "no settlement API" in body["failure"]["message"]
