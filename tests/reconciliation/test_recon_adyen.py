"""Adyen end to end: payments through the real Adyen connector against the local Adyen fake
(captures and refunds resolved by its signed notifications), then Adyen's Settlement details
report for them, in Adyen's CSV format, imported over HTTP and matched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from recon_helpers import counts, csv_of, exceptions, run, today, upload

from connectors.fakes.adyen_fake import AdyenFake
from strongbox.connectors.adyen import AdyenConnector
from strongbox.connectors.base import OperationKind
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
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
