"""Refunds over HTTP: full, partial, repeated, over-refund, by charge, list, update, events."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.runtime import Runtime
from support import error_of


def paid(api: TestClient, amount: int = 5000, **extra: str) -> dict[str, Any]:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": str(amount),
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            **extra,
        },
    )
    assert r.status_code == 200, r.text
    pi: dict[str, Any] = r.json()
    assert pi["status"] == "succeeded"
    return pi


def refund(api: TestClient, **params: str) -> dict[str, Any]:
    r = api.post("/v1/refunds", data=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def sim_refunded(runtime: Runtime, pi_id: str) -> int:
    assert runtime.simulator is not None
    return sum(c.refunded_amount for c in runtime.simulator.charges() if c.payment_id == pi_id)


def test_full_refund(api: TestClient, runtime: Runtime) -> None:
    pi = paid(api)
    re = refund(api, payment_intent=pi["id"])
    assert re["object"] == "refund"
    assert re["id"].startswith("re_")
    assert re["amount"] == 5000
    assert re["currency"] == "usd"
    assert re["status"] == "succeeded"
    assert re["payment_intent"] == pi["id"]
    assert re["charge"] == pi["latest_charge"]
    assert re["reason"] is None
    assert sim_refunded(runtime, pi["id"]) == 5000
    # The intent itself stays succeeded, as on Stripe.
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "succeeded"


def test_partial_refund_with_reason_and_metadata(api: TestClient, runtime: Runtime) -> None:
    pi = paid(api)
    re = refund(
        api,
        payment_intent=pi["id"],
        amount="1234",
        reason="requested_by_customer",
        **{"metadata[ticket]": "T-1"},
    )
    assert re["amount"] == 1234
    assert re["reason"] == "requested_by_customer"
    assert re["metadata"] == {"ticket": "T-1"}
    assert sim_refunded(runtime, pi["id"]) == 1234


def test_several_partial_refunds_then_already_refunded(api: TestClient, runtime: Runtime) -> None:
    pi = paid(api, 1000)
    amounts = [100, 250, 400]
    for amount in amounts:
        assert refund(api, payment_intent=pi["id"], amount=str(amount))["amount"] == amount
    # Without an amount, the refund takes what is left.
    rest = refund(api, payment_intent=pi["id"])
    assert rest["amount"] == 1000 - sum(amounts)
    assert sim_refunded(runtime, pi["id"]) == 1000

    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"]}), 400)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "charge_already_refunded"
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "1"}), 400)
    assert err["code"] == "charge_already_refunded"

    listed = api.get("/v1/refunds", params={"payment_intent": pi["id"]}).json()
    assert sorted(r["amount"] for r in listed["data"]) == sorted([*amounts, 250])
    assert sim_refunded(runtime, pi["id"]) == 1000


def test_over_refund_is_amount_too_large(api: TestClient, runtime: Runtime) -> None:
    pi = paid(api, 1000)
    err = error_of(
        api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "1001"}), 400
    )
    assert err["code"] == "amount_too_large"
    assert err["param"] == "amount"
    refund(api, payment_intent=pi["id"], amount="600")
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "401"}), 400)
    assert err["code"] == "amount_too_large"
    assert err["param"] == "amount"
    assert refund(api, payment_intent=pi["id"], amount="400")["amount"] == 400
    assert sim_refunded(runtime, pi["id"]) == 1000


def test_refund_after_partial_capture_is_bounded_by_amount_received(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    pi = r.json()
    api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "300"})
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "301"}), 400)
    assert err["code"] == "amount_too_large"
    assert refund(api, payment_intent=pi["id"])["amount"] == 300


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", ""])
def test_refund_amount_must_be_positive_integer(api: TestClient, value: str) -> None:
    pi = paid(api)
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": value}), 400)
    assert err["param"] == "amount"
    assert api.get("/v1/refunds", params={"payment_intent": pi["id"]}).json()["data"] == []


def test_refund_of_uncaptured_intent_is_refused(api: TestClient, runtime: Runtime) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    pi = r.json()
    assert pi["status"] == "requires_capture"
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"]}), 400)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "charge_not_refundable"
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "requires_capture"
    assert sim_refunded(runtime, pi["id"]) == 0


@pytest.mark.parametrize("state", ["requires_payment_method", "requires_confirmation", "canceled"])
def test_refund_of_unpaid_intent_is_refused(api: TestClient, state: str) -> None:
    data = {"amount": "1000", "currency": "usd"}
    if state == "requires_confirmation":
        data["payment_method"] = "pm_card_visa"
    pi = api.post("/v1/payment_intents", data=data).json()
    if state == "canceled":
        api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"]}), 400)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == "payment_intent"


def test_refund_of_declined_intent_is_refused(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "payment_method": "pm_card_chargeDeclined",
            "confirm": "true",
        },
    )
    pi_id = error_of(r, 402)["payment_intent"]["id"]
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi_id}), 400)
    assert err["type"] == "invalid_request_error"


def test_refund_by_charge(api: TestClient, runtime: Runtime) -> None:
    pi = paid(api, 2000)
    re = refund(api, charge=pi["latest_charge"], amount="700")
    assert re["payment_intent"] == pi["id"]
    assert re["charge"] == pi["latest_charge"]
    assert re["amount"] == 700
    assert sim_refunded(runtime, pi["id"]) == 700
    by_charge = api.get("/v1/refunds", params={"charge": pi["latest_charge"]}).json()
    assert [r["id"] for r in by_charge["data"]] == [re["id"]]


def test_refund_by_unknown_charge_is_404(api: TestClient) -> None:
    err = error_of(api.post("/v1/refunds", data={"charge": "ch_nope"}), 404)
    assert err["code"] == "resource_missing"
    assert err["param"] == "charge"


def test_refund_of_unknown_intent_is_404(api: TestClient) -> None:
    err = error_of(api.post("/v1/refunds", data={"payment_intent": "pi_nope"}), 404)
    assert err["code"] == "resource_missing"


def test_refund_needs_exactly_one_of_payment_intent_and_charge(api: TestClient) -> None:
    pi = paid(api)
    err = error_of(api.post("/v1/refunds", data={"amount": "100"}), 400)
    assert err["code"] == "parameter_missing"
    err = error_of(
        api.post("/v1/refunds", data={"payment_intent": pi["id"], "charge": pi["latest_charge"]}),
        400,
    )
    assert err["code"] == "parameters_exclusive"


def test_refund_unknown_reason_is_refused(api: TestClient) -> None:
    pi = paid(api)
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"], "reason": "meh"}), 400)
    assert err["param"] == "reason"


def test_list_filtered_by_payment_intent(api: TestClient) -> None:
    a = paid(api)
    b = paid(api)
    ra1 = refund(api, payment_intent=a["id"], amount="100")
    rb = refund(api, payment_intent=b["id"], amount="200")
    ra2 = refund(api, payment_intent=a["id"], amount="300")
    listed = api.get("/v1/refunds", params={"payment_intent": a["id"]}).json()
    assert listed["object"] == "list"
    assert listed["url"] == "/v1/refunds"
    assert [r["id"] for r in listed["data"]] == [ra2["id"], ra1["id"]]  # newest first
    everything = api.get("/v1/refunds").json()
    assert [r["id"] for r in everything["data"]] == [ra2["id"], rb["id"], ra1["id"]]


def test_retrieve(api: TestClient) -> None:
    pi = paid(api)
    re = refund(api, payment_intent=pi["id"], amount="100")
    got = api.get(f"/v1/refunds/{re['id']}")
    assert got.status_code == 200
    assert got.json() == re
    err = error_of(api.get("/v1/refunds/re_nope"), 404)
    assert err["code"] == "resource_missing"


def test_retrieve_with_expanded_payment_intent(api: TestClient) -> None:
    pi = paid(api)
    re = refund(api, payment_intent=pi["id"], amount="100")
    got = api.get(f"/v1/refunds/{re['id']}", params={"expand[]": "payment_intent"}).json()
    assert got["payment_intent"]["id"] == pi["id"]
    assert got["payment_intent"]["object"] == "payment_intent"


def test_update_metadata(api: TestClient) -> None:
    pi = paid(api)
    re = refund(api, payment_intent=pi["id"], amount="100", **{"metadata[a]": "1"})
    r = api.post(f"/v1/refunds/{re['id']}", data={"metadata[b]": "2", "metadata[a]": ""})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"b": "2"}
    assert r.json()["amount"] == 100
    assert api.get(f"/v1/refunds/{re['id']}").json()["metadata"] == {"b": "2"}


def test_update_metadata_empty_string_clears_all(api: TestClient) -> None:
    pi = paid(api)
    re = refund(api, payment_intent=pi["id"], amount="100", **{"metadata[a]": "1"})
    r = api.post(f"/v1/refunds/{re['id']}", data={"metadata": ""})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {}


def test_update_refuses_other_fields(api: TestClient) -> None:
    pi = paid(api)
    re = refund(api, payment_intent=pi["id"], amount="100")
    err = error_of(api.post(f"/v1/refunds/{re['id']}", data={"amount": "5"}), 400)
    assert err["code"] == "parameter_unknown"
    assert err["param"] == "amount"
    assert api.get(f"/v1/refunds/{re['id']}").json()["amount"] == 100


def test_events_for_a_refund(api: TestClient) -> None:
    pi = paid(api, 1000)
    re = refund(api, payment_intent=pi["id"], amount="400")
    events = api.get("/v1/events", params={"limit": "100"}).json()["data"]
    about_refund = [e for e in events if e["data"]["object"].get("id") == re["id"]]
    types = [e["type"] for e in reversed(about_refund)]
    assert types == ["refund.created", "refund.updated"]
    created, updated = reversed(about_refund)
    assert created["data"]["object"]["status"] == "pending"
    assert created["data"]["object"]["amount"] == 400
    assert updated["data"]["object"]["status"] == "succeeded"
    assert updated["data"]["previous_attributes"] == {"status": "pending"}

    [charge_refunded] = [e for e in events if e["type"] == "charge.refunded"]
    obj = charge_refunded["data"]["object"]
    assert obj.get("payment_intent", obj["id"]) == pi["id"]

    api.post(f"/v1/refunds/{re['id']}", data={"metadata[k]": "v"})
    updates = api.get("/v1/events", params={"type": "refund.updated"}).json()["data"]
    assert updates[0]["data"]["object"]["metadata"] == {"k": "v"}
    assert updates[0]["data"]["previous_attributes"] == {"metadata": {}}


def test_refund_rejected_emits_no_events(api: TestClient) -> None:
    pi = paid(api, 1000)
    before = len(api.get("/v1/events", params={"limit": "100"}).json()["data"])
    error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "5000"}), 400)
    after = len(api.get("/v1/events", params={"limit": "100"}).json()["data"])
    assert after == before
