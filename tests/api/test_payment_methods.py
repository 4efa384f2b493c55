"""PaymentMethods over HTTP: test methods, attach, detach, list by customer, retrieve."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support import error_of


def customer(api: TestClient) -> str:
    r = api.post("/v1/customers", data={"email": "pm@example.com"})
    assert r.status_code == 200, r.text
    cus_id: str = r.json()["id"]
    return cus_id


def attach(api: TestClient, pm: str, cus: str) -> dict[str, Any]:
    r = api.post(f"/v1/payment_methods/{pm}/attach", data={"customer": cus})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize(
    ("test_method", "brand", "last4", "funding"),
    [
        ("pm_card_visa", "visa", "4242", "credit"),
        ("pm_card_visa_debit", "visa", "5556", "debit"),
        ("pm_card_mastercard", "mastercard", "4444", "credit"),
        ("pm_card_amex", "amex", "0005", "credit"),
        ("tok_visa", "visa", "4242", "credit"),
    ],
)
def test_test_method_materializes_a_new_payment_method(
    api: TestClient, test_method: str, brand: str, last4: str, funding: str
) -> None:
    cus = customer(api)
    pm = attach(api, test_method, cus)
    assert pm["object"] == "payment_method"
    assert pm["id"].startswith("pm_")
    assert pm["id"] != test_method
    assert pm["type"] == "card"
    assert pm["customer"] == cus
    card = pm["card"]
    assert card["brand"] == brand
    assert card["last4"] == last4
    assert card["funding"] == funding
    assert isinstance(card["exp_month"], int)
    assert isinstance(card["exp_year"], int)
    assert isinstance(card["fingerprint"], str)
    assert card["fingerprint"]
    # Never the PAN.
    assert "number" not in card
    assert "4242424242424242" not in str(pm)
    # Each use materializes a new object with the same card fingerprint.
    again = attach(api, test_method, cus)
    assert again["id"] != pm["id"]
    assert again["card"]["fingerprint"] == card["fingerprint"]


def test_fingerprints_differ_between_cards(api: TestClient) -> None:
    cus = customer(api)
    visa = attach(api, "pm_card_visa", cus)
    mc = attach(api, "pm_card_mastercard", cus)
    assert visa["card"]["fingerprint"] != mc["card"]["fingerprint"]


def test_retrieve(api: TestClient) -> None:
    cus = customer(api)
    pm = attach(api, "pm_card_visa", cus)
    got = api.get(f"/v1/payment_methods/{pm['id']}")
    assert got.status_code == 200
    assert got.json() == pm
    err = error_of(api.get("/v1/payment_methods/pm_nope"), 404)
    assert err["code"] == "resource_missing"


def test_retrieve_test_method_name_is_not_an_object(api: TestClient) -> None:
    err = error_of(api.get("/v1/payment_methods/pm_card_visa"), 404)
    assert err["code"] == "resource_missing"


def test_retrieve_with_expanded_customer(api: TestClient) -> None:
    cus = customer(api)
    pm = attach(api, "pm_card_visa", cus)
    got = api.get(f"/v1/payment_methods/{pm['id']}", params={"expand[]": "customer"}).json()
    assert got["customer"]["id"] == cus
    assert got["customer"]["object"] == "customer"


def test_attach_existing_pm_from_an_intent(api: TestClient) -> None:
    pi = api.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "usd", "payment_method": "pm_card_visa"},
    ).json()
    pm_id = pi["payment_method"]
    assert api.get(f"/v1/payment_methods/{pm_id}").json()["customer"] is None
    cus = customer(api)
    pm = attach(api, pm_id, cus)
    assert pm["id"] == pm_id
    assert pm["customer"] == cus
    # Attaching to the same customer again is a no-op.
    assert attach(api, pm_id, cus)["customer"] == cus


def test_attach_to_another_customer_is_refused(api: TestClient) -> None:
    a, b = customer(api), customer(api)
    pm = attach(api, "pm_card_visa", a)
    err = error_of(api.post(f"/v1/payment_methods/{pm['id']}/attach", data={"customer": b}), 400)
    assert err["type"] == "invalid_request_error"
    assert api.get(f"/v1/payment_methods/{pm['id']}").json()["customer"] == a


def test_attach_requires_customer(api: TestClient) -> None:
    err = error_of(api.post("/v1/payment_methods/pm_card_visa/attach"), 400)
    assert err["code"] == "parameter_missing"
    assert err["param"] == "customer"
    err = error_of(
        api.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": "cus_nope"}), 404
    )
    assert err["code"] == "resource_missing"
    assert err["param"] == "customer"


def test_attach_unknown_payment_method_is_404(api: TestClient) -> None:
    cus = customer(api)
    err = error_of(api.post("/v1/payment_methods/pm_nope/attach", data={"customer": cus}), 404)
    assert err["code"] == "resource_missing"


def test_detach(api: TestClient) -> None:
    cus = customer(api)
    pm = attach(api, "pm_card_visa", cus)
    api.post(f"/v1/customers/{cus}", data={"invoice_settings[default_payment_method]": pm["id"]})
    r = api.post(f"/v1/payment_methods/{pm['id']}/detach")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == pm["id"]
    assert r.json()["customer"] is None
    assert api.get(f"/v1/payment_methods/{pm['id']}").json()["customer"] is None
    # A detached method stops being the customer's default.
    cus_now = api.get(f"/v1/customers/{cus}").json()
    assert cus_now["invoice_settings"]["default_payment_method"] is None
    # Detaching again is refused.
    err = error_of(api.post(f"/v1/payment_methods/{pm['id']}/detach"), 400)
    assert err["code"] == "payment_method_unexpected_state"


def test_list_by_customer(api: TestClient) -> None:
    a, b = customer(api), customer(api)
    a1 = attach(api, "pm_card_visa", a)
    b1 = attach(api, "pm_card_amex", b)
    a2 = attach(api, "pm_card_mastercard", a)
    listed = api.get("/v1/payment_methods", params={"customer": a}).json()
    assert listed["object"] == "list"
    assert listed["url"] == "/v1/payment_methods"
    assert [p["id"] for p in listed["data"]] == [a2["id"], a1["id"]]
    assert all(p["customer"] == a for p in listed["data"])
    only_b = api.get("/v1/payment_methods", params={"customer": b, "type": "card"}).json()
    assert [p["id"] for p in only_b["data"]] == [b1["id"]]
    api.post(f"/v1/payment_methods/{a1['id']}/detach")
    listed = api.get("/v1/payment_methods", params={"customer": a}).json()
    assert [p["id"] for p in listed["data"]] == [a2["id"]]


def test_list_for_unknown_customer_is_404(api: TestClient) -> None:
    err = error_of(api.get("/v1/payment_methods", params={"customer": "cus_nope"}), 404)
    assert err["code"] == "resource_missing"


def test_attach_and_detach_events(api: TestClient) -> None:
    cus = customer(api)
    pm = attach(api, "pm_card_visa", cus)
    api.post(f"/v1/payment_methods/{pm['id']}/detach")
    events = api.get(
        "/v1/events", params={"types[]": ["payment_method.attached", "payment_method.detached"]}
    ).json()
    assert [e["type"] for e in events["data"]] == [
        "payment_method.detached",
        "payment_method.attached",
    ]
    detached, attached = events["data"]
    assert attached["data"]["object"]["customer"] == cus
    assert detached["data"]["object"]["customer"] is None
    assert detached["data"]["previous_attributes"] == {"customer": cus}


def test_intent_refuses_payment_method_of_another_customer(api: TestClient) -> None:
    a, b = customer(api), customer(api)
    pm = attach(api, "pm_card_visa", a)
    err = error_of(
        api.post(
            "/v1/payment_intents",
            data={"amount": "1000", "currency": "usd", "customer": b, "payment_method": pm["id"]},
        ),
        400,
    )
    assert err["param"] == "payment_method"
    ok = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "customer": a,
            "payment_method": pm["id"],
            "confirm": "true",
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "succeeded"
    assert ok.json()["payment_method"] == pm["id"]
