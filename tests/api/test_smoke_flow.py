from __future__ import annotations

from fastapi.testclient import TestClient


def test_create_and_confirm_succeeds(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "2000",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "succeeded"
    assert body["amount_received"] == 2000
    assert body["object"] == "payment_intent"
