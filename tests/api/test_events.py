"""Events over HTTP: which operations emit which Stripe event types, snapshots, list filters."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from support import error_of


def events(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/v1/events", params={"limit": "100", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert body["url"] == "/v1/events"
    data: list[dict[str, Any]] = body["data"]
    return data


def types_for(api: TestClient, object_id: str) -> list[str]:
    """Event types about ``object_id``, oldest first."""
    return [e["type"] for e in reversed(events(api)) if e["data"]["object"].get("id") == object_id]


def post(api: TestClient, path: str, **data: str) -> dict[str, Any]:
    r = api.post(path, data=data)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_event_shape(api: TestClient) -> None:
    pi = post(api, "/v1/payment_intents", amount="1000", currency="usd")
    [event] = events(api)
    assert event["object"] == "event"
    assert event["id"].startswith("evt_")
    assert event["type"] == "payment_intent.created"
    assert event["api_version"]
    assert isinstance(event["created"], int)
    assert event["livemode"] is False
    assert event["request"]["id"].startswith("req_")
    assert event["data"]["object"] == pi
    assert "previous_attributes" not in event["data"]


def test_request_id_and_idempotency_key_recorded(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "usd"},
        headers={"Idempotency-Key": "evt-key-1"},
    )
    assert r.status_code == 200
    [event] = events(api)
    assert event["request"]["id"] == r.headers["Request-Id"]
    assert event["request"]["idempotency_key"] == "evt-key-1"


def test_automatic_payment_events(api: TestClient) -> None:
    pi = post(
        api,
        "/v1/payment_intents",
        amount="1000",
        currency="usd",
        payment_method="pm_card_visa",
        confirm="true",
    )
    assert types_for(api, pi["id"]) == ["payment_intent.created", "payment_intent.succeeded"]
    [succeeded] = events(api, type="payment_intent.succeeded")
    snapshot = succeeded["data"]["object"]
    assert snapshot["status"] == "succeeded"
    assert snapshot["amount_received"] == 1000
    assert snapshot["latest_charge"] == pi["latest_charge"]
    [created] = events(api, type="payment_intent.created")
    # A snapshot is the object as it was when the event happened.
    assert created["data"]["object"]["status"] == "requires_confirmation"
    assert created["data"]["object"]["amount_received"] == 0


def test_manual_capture_events(api: TestClient) -> None:
    pi = post(
        api,
        "/v1/payment_intents",
        amount="1000",
        currency="usd",
        capture_method="manual",
        payment_method="pm_card_visa",
        confirm="true",
    )
    post(api, f"/v1/payment_intents/{pi['id']}/capture", amount_to_capture="400")
    assert types_for(api, pi["id"]) == [
        "payment_intent.created",
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
    ]
    [capturable] = events(api, type="payment_intent.amount_capturable_updated")
    assert capturable["data"]["object"]["status"] == "requires_capture"
    assert capturable["data"]["object"]["amount_capturable"] == 1000
    [succeeded] = events(api, type="payment_intent.succeeded")
    assert succeeded["data"]["object"]["amount_received"] == 400


def test_cancel_events(api: TestClient) -> None:
    pi = post(api, "/v1/payment_intents", amount="1000", currency="usd")
    post(api, f"/v1/payment_intents/{pi['id']}/cancel", cancellation_reason="abandoned")
    assert types_for(api, pi["id"]) == ["payment_intent.created", "payment_intent.canceled"]
    [canceled] = events(api, type="payment_intent.canceled")
    assert canceled["data"]["object"]["status"] == "canceled"
    assert canceled["data"]["object"]["cancellation_reason"] == "abandoned"


def test_void_events(api: TestClient) -> None:
    pi = post(
        api,
        "/v1/payment_intents",
        amount="1000",
        currency="usd",
        capture_method="manual",
        payment_method="pm_card_visa",
        confirm="true",
    )
    post(api, f"/v1/payment_intents/{pi['id']}/cancel", cancellation_reason="duplicate")
    assert types_for(api, pi["id"])[-1] == "payment_intent.canceled"
    [canceled] = events(api, type="payment_intent.canceled")
    assert canceled["data"]["object"]["amount_capturable"] == 0
    assert canceled["data"]["object"]["cancellation_reason"] == "duplicate"


def test_decline_then_success_events(api: TestClient) -> None:
    pi = post(
        api,
        "/v1/payment_intents",
        amount="1000",
        currency="usd",
        payment_method="pm_card_chargeDeclinedInsufficientFunds",
    )
    assert api.post(f"/v1/payment_intents/{pi['id']}/confirm").status_code == 402
    post(api, f"/v1/payment_intents/{pi['id']}/confirm", payment_method="pm_card_visa")
    assert types_for(api, pi["id"]) == [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "payment_intent.succeeded",
    ]
    [failed] = events(api, type="payment_intent.payment_failed")
    error = failed["data"]["object"]["last_payment_error"]
    assert error["decline_code"] == "insufficient_funds"


def test_three_ds_events(api: TestClient) -> None:
    pi = post(
        api,
        "/v1/payment_intents",
        amount="1000",
        currency="usd",
        payment_method="pm_card_authenticationRequired",
        confirm="true",
    )
    path = urlsplit(pi["next_action"]["redirect_to_url"]["url"]).path
    api.post(path + "/complete", headers={"Accept": "application/json"})
    assert types_for(api, pi["id"]) == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
    ]
    [action] = events(api, type="payment_intent.requires_action")
    assert action["data"]["object"]["next_action"]["type"] == "redirect_to_url"


def test_update_event_has_previous_attributes(api: TestClient) -> None:
    pi = post(api, "/v1/payment_intents", amount="1000", currency="usd")
    post(api, f"/v1/payment_intents/{pi['id']}", amount="1500")
    [updated] = events(api, type="payment_intent.updated")
    assert updated["data"]["object"]["amount"] == 1500
    assert updated["data"]["previous_attributes"] == {"amount": 1000}
    # An update that changes nothing emits nothing.
    post(api, f"/v1/payment_intents/{pi['id']}", amount="1500")
    assert len(events(api, type="payment_intent.updated")) == 1


def test_customer_and_payment_method_events(api: TestClient) -> None:
    cus = post(api, "/v1/customers", email="e@example.com")
    pm = post(api, "/v1/payment_methods/pm_card_visa/attach", customer=cus["id"])
    post(api, f"/v1/customers/{cus['id']}", name="E")
    post(api, f"/v1/payment_methods/{pm['id']}/detach")
    assert api.delete(f"/v1/customers/{cus['id']}").status_code == 200
    assert [e["type"] for e in reversed(events(api))] == [
        "customer.created",
        "payment_method.attached",
        "customer.updated",
        "payment_method.detached",
        "customer.deleted",
    ]


def test_refund_events(api: TestClient) -> None:
    pi = post(
        api,
        "/v1/payment_intents",
        amount="1000",
        currency="usd",
        payment_method="pm_card_visa",
        confirm="true",
    )
    re = post(api, "/v1/refunds", payment_intent=pi["id"], amount="300")
    assert types_for(api, re["id"]) == ["refund.created", "refund.updated"]
    assert [e["type"] for e in events(api)][:3] == [
        "charge.refunded",
        "refund.updated",
        "refund.created",
    ]


def test_failed_requests_emit_nothing(api: TestClient) -> None:
    pi = post(api, "/v1/payment_intents", amount="1000", currency="usd")
    before = [e["id"] for e in events(api)]
    api.post(f"/v1/payment_intents/{pi['id']}/capture")
    api.post(f"/v1/payment_intents/{pi['id']}", data={"amount": "1"})
    api.post("/v1/payment_intents", data={"amount": "x", "currency": "usd"})
    api.post("/v1/refunds", data={"payment_intent": pi["id"]})
    assert [e["id"] for e in events(api)] == before


def test_retrieve(api: TestClient) -> None:
    post(api, "/v1/payment_intents", amount="1000", currency="usd")
    [event] = events(api)
    got = api.get(f"/v1/events/{event['id']}")
    assert got.status_code == 200
    assert got.json() == event
    err = error_of(api.get("/v1/events/evt_nope"), 404)
    assert err["code"] == "resource_missing"


def _make_some(api: TestClient) -> None:
    post(api, "/v1/customers", email="x@example.com")
    pi = post(api, "/v1/payment_intents", amount="1000", currency="usd")
    post(api, f"/v1/payment_intents/{pi['id']}/cancel")


def test_filter_by_type(api: TestClient) -> None:
    _make_some(api)
    assert [e["type"] for e in events(api, type="customer.created")] == ["customer.created"]
    assert events(api, type="charge.succeeded") == []
    # Stripe allows a * wildcard in type.
    assert sorted(e["type"] for e in events(api, type="payment_intent.*")) == [
        "payment_intent.canceled",
        "payment_intent.created",
    ]


def test_filter_by_types_list(api: TestClient) -> None:
    _make_some(api)
    got = events(api, **{"types[]": ["customer.created", "payment_intent.canceled"]})
    assert [e["type"] for e in got] == ["payment_intent.canceled", "customer.created"]


def test_type_and_types_are_exclusive(api: TestClient) -> None:
    r = api.get("/v1/events", params={"type": "a.b", "types[]": "c.d"})
    err = error_of(r, 400)
    assert err["code"] == "parameters_exclusive"


def test_filter_by_created(api: TestClient) -> None:
    _make_some(api)
    all_events = events(api)
    assert len(all_events) == 3
    newest = max(e["created"] for e in all_events)
    oldest = min(e["created"] for e in all_events)
    assert len(events(api, **{"created[gte]": str(oldest)})) == 3
    assert len(events(api, **{"created[lte]": str(newest)})) == 3
    assert events(api, **{"created[gte]": str(newest + 1)}) == []
    assert events(api, **{"created[lt]": str(oldest)}) == []
    assert events(api, **{"created[gt]": str(newest)}) == []
    assert len(events(api, created=str(oldest))) >= 1
    future = int(time.time()) + 3600
    assert events(api, **{"created[gte]": str(future)}) == []


@pytest.mark.parametrize(
    "params",
    [
        {"created[gte]": "abc"},
        {"created[gte]": "99999999999999999"},
        {"created[lt]": "-99999999999999999"},
        {"created[gt]": "9223372036854775807"},
        {"created": "9223372036854775807"},
        {"created[foo]": "1"},
        {"type": "x" * 101},
    ],
)
def test_bad_filters_are_400(api: TestClient, params: dict[str, str]) -> None:
    err = error_of(api.get("/v1/events", params=params), 400)
    assert err["type"] == "invalid_request_error"


def test_events_are_paged_newest_first(api: TestClient) -> None:
    for i in range(5):
        post(api, "/v1/customers", name=f"c{i}")
    page = api.get("/v1/events", params={"limit": "2"}).json()
    assert page["has_more"] is True
    names = [e["data"]["object"]["name"] for e in page["data"]]
    assert names == ["c4", "c3"]
    rest = api.get(
        "/v1/events", params={"limit": "10", "starting_after": page["data"][-1]["id"]}
    ).json()
    assert [e["data"]["object"]["name"] for e in rest["data"]] == ["c2", "c1", "c0"]
    assert rest["has_more"] is False
