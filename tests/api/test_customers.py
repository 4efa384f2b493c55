"""Customers over HTTP: create, retrieve, update, list (email filter), delete."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from support import error_of


def create_customer(api: TestClient, **params: str) -> dict[str, Any]:
    r = api.post("/v1/customers", data=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_create_and_retrieve(api: TestClient) -> None:
    cus = create_customer(
        api,
        name="Ada Lovelace",
        email="ada@example.com",
        phone="+44 20 7946 0000",
        description="first",
        **{
            "metadata[tier]": "gold",
            "address[line1]": "12 St James's Square",
            "address[city]": "London",
            "address[country]": "GB",
        },
    )
    assert cus["object"] == "customer"
    assert cus["id"].startswith("cus_")
    assert cus["name"] == "Ada Lovelace"
    assert cus["email"] == "ada@example.com"
    assert cus["phone"] == "+44 20 7946 0000"
    assert cus["description"] == "first"
    assert cus["metadata"] == {"tier": "gold"}
    assert cus["address"]["city"] == "London"
    assert cus["address"]["country"] == "GB"
    assert cus["address"]["line2"] is None
    assert cus["invoice_settings"]["default_payment_method"] is None
    assert cus["livemode"] is False
    assert isinstance(cus["created"], int)
    got = api.get(f"/v1/customers/{cus['id']}")
    assert got.status_code == 200
    assert got.json() == cus


def test_create_empty_customer(api: TestClient) -> None:
    cus = create_customer(api)
    assert cus["name"] is None
    assert cus["email"] is None
    assert cus["metadata"] == {}


def test_create_with_payment_method_attaches_it(api: TestClient) -> None:
    cus = create_customer(api, payment_method="pm_card_visa")
    pm_id = cus["invoice_settings"]["default_payment_method"]
    assert pm_id.startswith("pm_")
    pm = api.get(f"/v1/payment_methods/{pm_id}").json()
    assert pm["customer"] == cus["id"]


def test_create_json_body(api: TestClient) -> None:
    r = api.post("/v1/customers", json={"email": "j@example.com", "metadata": {"n": 5}})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "j@example.com"
    assert r.json()["metadata"] == {"n": "5"}


def test_create_rejects_unknown_and_too_long(api: TestClient) -> None:
    err = error_of(api.post("/v1/customers", data={"nickname": "x"}), 400)
    assert err["code"] == "parameter_unknown"
    assert err["param"] == "nickname"
    err = error_of(api.post("/v1/customers", data={"name": "x" * 257}), 400)
    assert err["param"] == "name"
    err = error_of(api.post("/v1/customers", data={"metadata[k]": "v" * 501}), 400)
    assert err["param"] == "metadata[k]"
    assert api.get("/v1/customers").json()["data"] == []


def test_update_fields_and_metadata(api: TestClient) -> None:
    cus = create_customer(api, name="Old", email="o@example.com", **{"metadata[a]": "1"})
    r = api.post(
        f"/v1/customers/{cus['id']}",
        data={"name": "New", "metadata[b]": "2", "metadata[a]": "", "description": "vip"},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["name"] == "New"
    assert updated["email"] == "o@example.com"  # untouched
    assert updated["description"] == "vip"
    assert updated["metadata"] == {"b": "2"}
    # An empty string unsets a field.
    r = api.post(f"/v1/customers/{cus['id']}", data={"email": ""})
    assert r.status_code == 200, r.text
    assert r.json()["email"] is None
    assert api.get(f"/v1/customers/{cus['id']}").json()["name"] == "New"


def test_update_clears_metadata_and_address_with_empty_string(api: TestClient) -> None:
    cus = create_customer(api, **{"metadata[a]": "1", "metadata[b]": "2", "address[city]": "Paris"})
    r = api.post(f"/v1/customers/{cus['id']}", data={"metadata": "", "address": ""})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {}
    assert r.json()["address"] is None


def test_address_errors_name_the_nested_param(api: TestClient) -> None:
    err = error_of(api.post("/v1/customers", data={"address[planet]": "Mars"}), 400)
    assert err["code"] == "parameter_unknown"
    assert err["param"] == "address[planet]"
    err = error_of(api.post("/v1/customers", data={"address[country]": "GBR"}), 400)
    assert err["param"] == "address[country]"
    err = error_of(api.post("/v1/customers", data={"address[]": "x"}), 400)
    assert err["param"] == "address"


def test_update_emits_customer_updated_with_previous_attributes(api: TestClient) -> None:
    cus = create_customer(api, name="Old")
    api.post(f"/v1/customers/{cus['id']}", data={"name": "New"})
    [event] = api.get("/v1/events", params={"type": "customer.updated"}).json()["data"]
    assert event["data"]["object"]["id"] == cus["id"]
    assert event["data"]["object"]["name"] == "New"
    assert event["data"]["previous_attributes"] == {"name": "Old"}


def test_update_unknown_customer_is_404(api: TestClient) -> None:
    err = error_of(api.post("/v1/customers/cus_nope", data={"name": "x"}), 404)
    assert err["code"] == "resource_missing"


def test_list_and_email_filter(api: TestClient) -> None:
    a = create_customer(api, email="a@example.com")
    b = create_customer(api, email="b@example.com")
    a2 = create_customer(api, email="a@example.com")
    listed = api.get("/v1/customers").json()
    assert listed["object"] == "list"
    assert listed["url"] == "/v1/customers"
    assert listed["has_more"] is False
    assert [c["id"] for c in listed["data"]] == [a2["id"], b["id"], a["id"]]
    only_a = api.get("/v1/customers", params={"email": "a@example.com"}).json()
    assert [c["id"] for c in only_a["data"]] == [a2["id"], a["id"]]
    none = api.get("/v1/customers", params={"email": "nobody@example.com"}).json()
    assert none["data"] == []


def test_delete_then_retrieve_shows_deleted(api: TestClient) -> None:
    cus = create_customer(api, email="gone@example.com")
    r = api.delete(f"/v1/customers/{cus['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": cus["id"], "object": "customer", "deleted": True}
    got = api.get(f"/v1/customers/{cus['id']}")
    assert got.status_code == 200
    assert got.json()["deleted"] is True
    assert got.json()["id"] == cus["id"]
    # Deleted customers leave lists, cannot be updated, deleted again, or used.
    assert api.get("/v1/customers").json()["data"] == []
    assert api.get("/v1/customers", params={"email": "gone@example.com"}).json()["data"] == []
    assert error_of(api.post(f"/v1/customers/{cus['id']}", data={"name": "x"}), 404)
    assert error_of(api.delete(f"/v1/customers/{cus['id']}"), 404)
    err = error_of(
        api.post(
            "/v1/payment_intents",
            data={"amount": "1000", "currency": "usd", "customer": cus["id"]},
        ),
        404,
    )
    assert err["param"] == "customer"


def test_delete_emits_customer_deleted(api: TestClient) -> None:
    cus = create_customer(api, name="Bye")
    api.delete(f"/v1/customers/{cus['id']}")
    types = [e["type"] for e in api.get("/v1/events").json()["data"]]
    assert types == ["customer.deleted", "customer.created"]
    [deleted] = api.get("/v1/events", params={"type": "customer.deleted"}).json()["data"]
    assert deleted["data"]["object"]["id"] == cus["id"]
    assert deleted["data"]["object"]["name"] == "Bye"


def test_delete_unknown_is_404(api: TestClient) -> None:
    err = error_of(api.delete("/v1/customers/cus_nope"), 404)
    assert err["code"] == "resource_missing"


def test_intent_for_customer_and_list_by_customer(api: TestClient) -> None:
    cus = create_customer(api)
    other = create_customer(api)
    mine = api.post(
        "/v1/payment_intents", data={"amount": "1000", "currency": "usd", "customer": cus["id"]}
    ).json()
    api.post(
        "/v1/payment_intents", data={"amount": "1000", "currency": "usd", "customer": other["id"]}
    )
    api.post("/v1/payment_intents", data={"amount": "1000", "currency": "usd"})
    assert mine["customer"] == cus["id"]
    listed = api.get("/v1/payment_intents", params={"customer": cus["id"]}).json()
    assert [p["id"] for p in listed["data"]] == [mine["id"]]


def test_default_payment_method_must_belong_to_customer(api: TestClient) -> None:
    cus = create_customer(api)
    pm = api.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": cus["id"]}).json()
    r = api.post(
        f"/v1/customers/{cus['id']}",
        data={"invoice_settings[default_payment_method]": pm["id"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["invoice_settings"]["default_payment_method"] == pm["id"]

    other = create_customer(api)
    err = error_of(
        api.post(
            f"/v1/customers/{other['id']}",
            data={"invoice_settings[default_payment_method]": pm["id"]},
        ),
        400,
    )
    assert err["param"] == "invoice_settings[default_payment_method]"
