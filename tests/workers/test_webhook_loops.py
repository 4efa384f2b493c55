"""The webhook loops as the server runs them: fan-out → delivery, and inbound processing."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson
import pytest
import stripe
from standardwebhooks.webhooks import Webhook

from strongbox.core.settings import Settings
from strongbox.runtime import Runtime
from strongbox.webhooks.delivery import Deliverer
from support import LiveServer, Merchant
from webhooks.webhook_helpers import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhooks_allow_private": True, "worker_interval_seconds": 0.2}
    )


def wait_for(pred: Any, timeout: float = 120.0) -> None:
    """Until ``pred()``; the bound is for a stuck worker, not a slow machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_server_workers_deliver_and_process(
    runtime: Runtime, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 23 item 6: the running worker records the first attempt only after the
    # redelivery below was accepted (the interleaving that lost the redelivery).
    redelivered = threading.Event()
    real = Deliverer.record

    def record_after_redelivery(self: Deliverer, endpoint_id: str, results: Any) -> None:
        assert redelivered.wait(120), "the test never asked for the redelivery"
        real(self, endpoint_id, results)

    monkeypatch.setattr(Deliverer, "record", record_after_redelivery)
    with Receiver() as receiver, LiveServer(runtime, workers=True) as server:
        c = httpx.Client(base_url=server.url, headers=merchant.headers, timeout=60)
        e = c.post(
            "/v1/webhook_endpoints",
            data={"url": receiver.url + "/live", "enabled_events[]": "payment_intent.succeeded"},
        ).json()
        pi = c.post(
            "/v1/payment_intents",
            data={
                "amount": 500,
                "currency": "eur",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        ).json()
        wait_for(lambda: len(receiver.on("/live")) == 1)
        body = Webhook(e["secret"]).verify(
            receiver.on("/live")[0].body, receiver.on("/live")[0].headers
        )
        assert body["data"]["object"]["id"] == pi["id"]
        # Manual redelivery over the API is sent right away by the running worker.
        r = c.post(f"/v1/webhook_endpoints/{e['id']}/redeliver", data={"event": body["id"]})
        assert r.status_code == 200
        redelivered.set()
        wait_for(lambda: len(receiver.on("/live")) == 2)
        assert (
            Webhook(e["secret"]).verify(
                receiver.on("/live")[1].body, receiver.on("/live")[1].headers
            )["id"]
            == body["id"]
        )
        # Inbound: stored at once, applied by the inbound loop.
        secret = "whsec_live_inbound_1"
        acct = c.post(
            "/v1/webhooks/inbound_accounts", data={"connector": "stripe", "signing_secret": secret}
        ).json()
        payload = orjson.dumps(
            {"id": "evt_live", "type": "customer.created", "data": {"object": {}}}
        ).decode()
        header = stripe.WebhookSignature.generate_signature_header(payload, secret)
        path = f"/v1/webhooks/inbound/stripe/{acct['id']}"
        assert (
            httpx.post(
                server.url + path, content=payload, headers={"Stripe-Signature": header}
            ).status_code
            == 200
        )

        def processed() -> bool:
            data = c.get("/v1/webhooks/inbound_events").json()["data"]
            return bool(data) and data[0]["status"] == "ignored"

        wait_for(processed)
        c.close()
