"""End to end over the HTTP API with the real Adyen connector against the local Adyen fake:
a merchant configures an Adyen connector account, an inbound notification account and
routing; captures and refunds are ``received`` by Adyen and resolved by the signed
notifications the fake posts to ``/v1/webhooks/inbound/adyen/…``; an authorization whose
answer was lost stays ``processing`` (no status lookup) until the AUTHORISATION notification
resolves it, with one charge at Adyen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.fakes.adyen_fake import AdyenFake
from strongbox.connectors.adyen import AdyenConnector
from strongbox.connectors.base import OperationKind
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core import metrics
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from strongbox.workers.webhooks import process_inbound

API_KEY = "AQE_e2e_merchant_key"  # pragma: allowlist secret
MERCHANT_ACCOUNT = "ShopECOM"
HMAC_KEY = "5C" * 32


@pytest.fixture(scope="module")
def adyen() -> Iterator[tuple[AdyenFake, BackgroundServer]]:
    engine = SimulatorEngine(hang_seconds=2.0)
    fake = AdyenFake(engine, api_keys={API_KEY: {MERCHANT_ACCOUNT}}, hmac_key=HMAC_KEY)
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def shop(
    api: Any, runtime: Runtime, adyen: tuple[AdyenFake, BackgroundServer]
) -> Iterator[AdyenFake]:
    fake, server = adyen
    fake.reset()
    fake.engine.reset()
    fake.engine.hang_seconds = 2.0
    url = server.url
    runtime.connectors.register(
        "adyen", lambda: AdyenConnector(url, connect_timeout=1.0, read_timeout=1.0)
    )
    r = api.post(
        "/v1/connector_accounts",
        data={
            "connector": "adyen",
            "label": "Adyen EU",
            "credentials[api_key]": API_KEY,
            "settings[merchant_account]": MERCHANT_ACCOUNT,
        },
    )
    assert r.status_code == 200, r.text
    account = r.json()
    assert API_KEY not in r.text
    r = api.post("/v1/routing", json={"default": {"connectors": [account["id"]]}})
    assert r.status_code == 200, r.text
    r = api.post(
        "/v1/webhooks/inbound_accounts",
        data={"connector": "adyen", "signing_secret": HMAC_KEY, "account": MERCHANT_ACCOUNT},
    )
    assert r.status_code == 200, r.text
    fake.webhook_url = "/v1/webhooks/inbound/" + r.json()["url"].split("/v1/webhooks/inbound/")[1]
    yield fake
    fake.webhook_url = None


def deliver(fake: AdyenFake, client: Any, rt: Runtime) -> None:
    """Adyen posts its queued notifications; the inbound worker applies them."""
    for answer in fake.flush(post=client.post):
        assert answer.status_code == 200, answer.text
        assert answer.text == "[accepted]"
    process_inbound(rt)


def manual_payment(api: Any, amount: int = 2000) -> dict[str, Any]:
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
    pi: dict[str, Any] = r.json()
    return pi


def event_types(api: Any, pi_id: str) -> list[str]:
    data = api.get("/v1/events", params={"limit": 100}).json()["data"]
    return [e["type"] for e in data if e["data"]["object"].get("id") == pi_id]


def test_capture_and_refund_resolved_by_adyen_notifications(
    api: Any, client: Any, runtime: Runtime, shop: AdyenFake
) -> None:
    pi = manual_payment(api)
    assert pi["status"] == "requires_capture"
    deliver(shop, client, runtime)  # the AUTHORISATION notification: already known
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "requires_capture"

    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": 1500})
    assert r.status_code == 200, r.text
    # Adyen said "received": Stripe's state machine has no requires_capture -> processing, so
    # the intent keeps its status with the capture in progress (a second one is refused).
    assert r.json()["status"] == "requires_capture"
    again = api.post(f"/v1/payment_intents/{pi['id']}/capture")
    assert again.status_code == 400, again.text
    assert "in progress" in again.json()["error"]["message"]
    [capture] = [i for i in shop.outbox if i["eventCode"] == "CAPTURE"]
    assert capture["originalReference"] == shop.psp_of(shop.engine.charges()[0].reference)
    deliver(shop, client, runtime)
    done = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 1500
    assert "payment_intent.succeeded" in event_types(api, pi["id"])
    balance = api.get("/v1/balance").json()
    assert sum(b["amount"] for b in balance["pending"] if b["currency"] == "eur") > 0
    txns = api.get("/v1/balance_transactions", params={"type": "charge"}).json()["data"]
    assert [t["amount"] for t in txns] == [1500]

    r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": 500})
    assert r.status_code == 200, r.text
    refund = r.json()
    assert refund["status"] == "pending"
    deliver(shop, client, runtime)
    assert api.get(f"/v1/refunds/{refund['id']}").json()["status"] == "succeeded"
    assert "charge.refunded" in event_types(api, pi["id"])
    refunds = api.get("/v1/balance_transactions", params={"type": "refund"}).json()["data"]
    assert [t["amount"] for t in refunds] == [-500]
    inbound = api.get("/v1/webhooks/inbound_events").json()["data"]
    assert {e["type"] for e in inbound} == {"AUTHORISATION", "CAPTURE", "REFUND"}


def test_cancel_resolved_by_the_cancellation_notification(
    api: Any, client: Any, runtime: Runtime, shop: AdyenFake
) -> None:
    pi = manual_payment(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "requires_capture"  # the cancel is in progress at Adyen
    deliver(shop, client, runtime)  # AUTHORISATION, then CANCELLATION success
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "canceled"


def test_lost_authorization_answer_resolved_by_the_authorisation_webhook(
    api: Any, client: Any, runtime: Runtime, shop: AdyenFake
) -> None:
    shop.engine.inject("drop_response", operations={OperationKind.AUTHORIZE})
    pi = api.post(
        "/v1/payment_intents",
        data={
            "amount": 3100,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    ).json()
    assert pi["status"] == "processing", pi
    # No status lookup at Adyen: recovery leaves the attempt to the webhook, and counts it.
    waiting = metrics.AWAITING_WEBHOOK.labels("adyen", "authorize")
    before = waiting._value.get()
    assert recover_once(runtime, min_age=timedelta(0)) == 1
    assert waiting._value.get() == before + 1
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "processing"
    charged = [c for c in shop.engine.charges() if c.amount == 3100]
    assert len(charged) == 1  # Adyen did charge
    deliver(shop, client, runtime)
    done = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 3100
    assert len([c for c in shop.engine.charges() if c.amount == 3100]) == 1  # no second charge
    assert event_types(api, pi["id"]).count("payment_intent.succeeded") == 1


def test_adyen_connector_accounts_need_a_merchant_account(api: Any) -> None:
    r = api.post(
        "/v1/connector_accounts",
        data={"connector": "adyen", "credentials[api_key]": API_KEY},
    )
    assert r.status_code == 400, r.text
    assert "merchant_account" in r.json()["error"]["message"]
    assert API_KEY not in r.text


def test_the_fake_posts_notifications_over_http(
    api: Any, runtime: Runtime, live_server: Any, shop: AdyenFake
) -> None:
    """The fake sends what it queued to a real URL, as Adyen's notification service does."""
    pi = manual_payment(api)
    path = shop.webhook_url
    assert path is not None
    shop.webhook_url = live_server.url + path
    [answer] = shop.flush()
    assert (answer.status_code, answer.text) == (200, "[accepted]")
    assert shop.outbox == []
    process_inbound(runtime)
    events = api.get("/v1/webhooks/inbound_events").json()["data"]
    assert [(e["type"], e["status"]) for e in events] == [("AUTHORISATION", "ignored")]
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "requires_capture"


def test_lost_answer_of_a_declined_payment_resolved_by_a_failed_authorisation(
    api: Any, client: Any, runtime: Runtime, shop: AdyenFake
) -> None:
    shop.engine.inject("drop_response", operations={OperationKind.AUTHORIZE})
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": 1800,
            "currency": "eur",
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            "confirm": "true",
        },
    )
    pi = r.json()
    assert pi["status"] == "processing", pi
    deliver(shop, client, runtime)  # AUTHORISATION success=false, reason "Not enough balance"
    done = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert done["status"] == "requires_payment_method"
    assert done["last_payment_error"]["decline_code"] == "insufficient_funds"
