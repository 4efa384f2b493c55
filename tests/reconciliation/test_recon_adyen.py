"""Adyen end to end: payments through the real Adyen connector against the local Adyen fake
(captures and refunds resolved by its signed notifications), then Adyen's Settlement details
report for them, in Adyen's CSV format, imported over HTTP and matched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from recon_helpers import counts, csv_of, exceptions, run, today, upload

from connectors.fakes.adyen_fake import AdyenFake
from strongbox.connectors.adyen import AdyenConnector
from strongbox.connectors.adyen.reports import checked_url
from strongbox.connectors.base import Credentials, OperationKind, TerminalError
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.reconciliation.adyen_reports import adyen_reports_once, pending
from strongbox.reconciliation.tasks import FetchPolicy
from strongbox.runtime import Runtime
from strongbox.workers.webhooks import process_inbound

API_KEY = "AQE_recon_merchant_key"  # pragma: allowlist secret
MERCHANT_ACCOUNT = "ShopECOM"
HMAC_KEY = "6D" * 32
HEADER = [
    "Company Account", "Merchant Account", "Psp Reference", "Merchant Reference",
    "Payment Method", "Creation Date", "TimeZone", "Type", "Modification Reference",
    "Gross Currency", "Gross Debit (GC)", "Gross Credit (GC)", "Exchange Rate",
    "Net Currency", "Net Debit (NC)", "Net Credit (NC)", "Commission (NC)", "Markup (NC)",
    "Scheme Fees (NC)", "Interchange (NC)", "Payment Method Variant",
    "Modification Merchant Reference", "Batch Number",
]  # fmt: skip


@pytest.fixture(scope="module")
def adyen() -> Iterator[tuple[AdyenFake, BackgroundServer]]:
    engine = SimulatorEngine(hang_seconds=2.0)
    fake = AdyenFake(engine, api_keys={API_KEY: {MERCHANT_ACCOUNT}}, hmac_key=HMAC_KEY)
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def shop(
    api: Any, runtime: Runtime, adyen: tuple[AdyenFake, BackgroundServer]
) -> Iterator[tuple[AdyenFake, str]]:
    fake, server = adyen
    fake.reset()
    fake.engine.reset()
    url = server.url
    runtime.connectors.register(
        "adyen", lambda: AdyenConnector(url, connect_timeout=1.0, read_timeout=1.0)
    )
    r = api.post(
        "/v1/connector_accounts",
        data={
            "connector": "adyen",
            "credentials[api_key]": API_KEY,
            "settings[merchant_account]": MERCHANT_ACCOUNT,
        },
    )
    assert r.status_code == 200, r.text
    account = r.json()["id"]
    assert api.post("/v1/routing", json={"default": {"connectors": [account]}}).status_code == 200
    r = api.post(
        "/v1/webhooks/inbound_accounts",
        data={"connector": "adyen", "signing_secret": HMAC_KEY, "account": MERCHANT_ACCOUNT},
    )
    assert r.status_code == 200, r.text
    fake.webhook_url = "/v1/webhooks/inbound/" + r.json()["url"].split("/v1/webhooks/inbound/")[1]
    yield fake, account
    fake.webhook_url = None


def deliver(fake: AdyenFake, client: Any, rt: Runtime) -> None:
    for answer in fake.flush(post=client.post):
        assert answer.status_code == 200, answer.text
    process_inbound(rt)


def _paid(api: Any, client: Any, runtime: Runtime, fake: AdyenFake, amount: int) -> str:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": amount,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": "true",
        },
    )
    assert r.status_code == 200, r.text
    pi: str = r.json()["id"]
    assert api.post(f"/v1/payment_intents/{pi}/capture").status_code == 200
    deliver(fake, client, runtime)
    assert api.get(f"/v1/payment_intents/{pi}").json()["status"] == "succeeded"
    return pi


def _major(minor: int) -> str:
    return f"{minor / 100:.2f}"


def _settlement_details(fake: AdyenFake, *, fee: int) -> str:
    """Adyen's report of what the fake's network captured and refunded today."""
    cet = ZoneInfo("Europe/Amsterdam")
    rows: list[dict[str, str]] = []
    base = {"Company Account": "Shop", "Merchant Account": MERCHANT_ACCOUNT, "TimeZone": "CET"}
    for c in fake.engine.charges():
        psp = fake.psp_of(c.reference)
        rows.append(
            {
                **base,
                "Psp Reference": psp,
                "Merchant Reference": c.authorize_idempotency_key,
                "Payment Method": "visa",
                "Creation Date": c.created_at.astimezone(cet).strftime("%Y-%m-%d %H:%M:%S"),
                "Type": "Settled",
                "Modification Reference": psp,
                "Gross Currency": "EUR",
                "Gross Credit (GC)": _major(c.captured_amount),
                "Net Currency": "EUR",
                "Net Credit (NC)": _major(c.captured_amount - fee),
                "Commission (NC)": _major(fee),
                "Batch Number": "7",
            }
        )
    for op in fake.engine.operations():
        if op.kind is not OperationKind.REFUND or op.amount is None:
            continue
        rows.append(
            {
                **base,
                "Psp Reference": fake.psp_of(op.charge_reference),
                "Payment Method": "visa",
                "Creation Date": op.created_at.astimezone(cet).strftime("%Y-%m-%d %H:%M:%S"),
                "Type": "Refunded",
                "Modification Reference": fake.psp_of(op.reference),
                "Gross Currency": "EUR",
                "Gross Debit (GC)": _major(op.amount),
                "Net Currency": "EUR",
                "Net Debit (NC)": _major(op.amount),
                "Batch Number": "7",
            }
        )
    rows.append({**base, "Type": "MerchantPayout", "Gross Currency": "EUR", "Batch Number": "7",
                 "Creation Date": datetime.now(cet).strftime("%Y-%m-%d %H:%M:%S")})  # fmt: skip
    return csv_of(HEADER, [{k: r.get(k, "") for k in HEADER} for r in rows])


def test_adyens_settlement_details_match_payments_and_refunds(
    api: Any, client: Any, runtime: Runtime, shop: tuple[AdyenFake, str]
) -> None:
    fake, account = shop
    p1 = _paid(api, client, runtime, fake, 2000)
    _paid(api, client, runtime, fake, 3500)
    for amount in (300, 200):  # two refunds of one payment
        r = api.post("/v1/refunds", data={"payment_intent": p1, "amount": amount})
        assert r.status_code == 200, r.text
    deliver(fake, client, runtime)
    r = upload(api, account, _settlement_details(fake, fee=0))
    assert r.status_code == 200, r.text
    assert (r.json()["format"], r.json()["lines"], r.json()["skipped"]) == (
        "adyen_settlement_details",
        4,
        1,
    )
    body = run(api, account, today())
    assert counts(body) == {"matched": 4}, body
    assert exceptions(api) == []


# ---------------------------------------------------------------- the report, downloaded as
# Adyen announces it: a signed REPORT_AVAILABLE notification through the inbound endpoint,
# the file fetched from the fake's report tree (retried while Adyen is unavailable), imported
# once under its name and matched.

FAST = FetchPolicy(attempts=4, backoff_seconds=0.01, max_backoff_seconds=0.05)
FILE = "settlement_detail_report_batch_7.csv"


@pytest.fixture
def reports_at(runtime: Runtime, adyen: tuple[AdyenFake, BackgroundServer]) -> str:
    url = adyen[1].url
    runtime.connectors.register(
        "adyen",
        lambda: AdyenConnector(url, report_base_url=url, connect_timeout=1.0, read_timeout=2.0),
    )
    return url


def _now() -> datetime:
    return datetime.now(UTC)


def test_an_announced_report_is_downloaded_imported_once_and_matched(
    api: Any, client: Any, runtime: Runtime, shop: tuple[AdyenFake, str], reports_at: str
) -> None:
    fake, _ = shop
    _paid(api, client, runtime, fake, 2000)
    _paid(api, client, runtime, fake, 3500)
    fake.announce_report(MERCHANT_ACCOUNT, FILE, _settlement_details(fake, fee=0), reports_at)
    fake.announce_report(MERCHANT_ACCOUNT, "payments_accounting_report_x.csv", "x", reports_at)
    deliver(fake, client, runtime)
    fake.report_failures = 2  # Adyen unavailable twice: retried with back-off
    assert [p.filename for p in pending(runtime.db, _now())] == [FILE]
    assert (
        adyen_reports_once(runtime.db, runtime.routing, runtime.connectors, now=_now(), policy=FAST)
        == 1
    )
    downloads = [path for path, headers, _ in fake.seen if path.startswith("/reports/")]
    assert len(downloads) == 3  # two refused, one served
    imports = api.get("/v1/reconciliation/report_imports").json()["data"]
    assert [(i["filename"], i["format"], i["lines"]) for i in imports] == [
        (FILE, "adyen_settlement_details", 2)
    ]
    runs = api.get("/v1/reconciliation/runs").json()["data"]
    assert runs, runs
    assert runs[0]["status"] == "completed", runs
    assert exceptions(api) == []
    # A file imported once is never fetched again.
    assert pending(runtime.db, _now()) == []
    assert (
        adyen_reports_once(runtime.db, runtime.routing, runtime.connectors, now=_now(), policy=FAST)
        == 0
    )


def test_a_download_that_keeps_failing_leaves_a_failed_run_and_is_tried_again(
    api: Any, client: Any, runtime: Runtime, shop: tuple[AdyenFake, str], reports_at: str
) -> None:
    fake, _ = shop
    _paid(api, client, runtime, fake, 1500)
    fake.announce_report(MERCHANT_ACCOUNT, FILE, _settlement_details(fake, fee=0), reports_at)
    deliver(fake, client, runtime)
    fake.report_failures = 100
    assert (
        adyen_reports_once(runtime.db, runtime.routing, runtime.connectors, now=_now(), policy=FAST)
        == 0
    )
    runs = api.get("/v1/reconciliation/runs").json()["data"]
    assert runs[0]["status"] == "failed"
    assert runs[0]["failure"]["stage"] == "fetch"
    assert "gave up on " + FILE in runs[0]["failure"]["message"]
    fake.report_failures = 0
    assert (
        adyen_reports_once(runtime.db, runtime.routing, runtime.connectors, now=_now(), policy=FAST)
        == 1
    )


def test_only_this_accounts_report_tree_is_ever_fetched() -> None:
    creds = Credentials(secrets={}, settings={"merchant_account": "ShopECOM"}, account_id="mca_x")
    base = "https://ca-test.adyen.com"
    good = f"{base}/reports/download/MerchantAccount/ShopECOM/settlement_detail_report_batch_1.csv"
    assert checked_url(base, creds, good) == good
    for bad in (
        "https://evil.example/reports/download/MerchantAccount/ShopECOM/a.csv",
        f"{base}/reports/download/MerchantAccount/Other/a.csv",
        f"{base}/reports/download/MerchantAccount/ShopECOM/../../x.csv",
        f"{base}/reports/download/MerchantAccount/ShopECOM/a.csv?x=1",
        f"{base}/reports/download/MerchantAccount/ShopECOM/a.exe",
    ):
        with pytest.raises(TerminalError):
            checked_url(base, creds, bad)
