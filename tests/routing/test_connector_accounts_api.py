"""Connector accounts and the routing configuration over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from routing_helpers import add_account, set_routing

from strongbox.routing.models import ConnectorAccount
from strongbox.runtime import Runtime
from strongbox.vault.crypto import DecryptionError
from support import Merchant, error_of

SECRET = "sk_test_51Habcdefghijklmnop4242"


def test_credentials_are_sealed_and_never_returned(
    api: TestClient, runtime: Runtime, stripe: Any
) -> None:
    seen: list[Any] = []
    runtime.dispatcher.subscribe("*", lambda uow, event: seen.append(event))
    acct = add_account(api, "stripe", **{"credentials[api_key]": SECRET, "label": "EU"})
    assert acct["object"] == "connector_account"
    assert acct["id"].startswith("mca_")
    assert acct["credentials"] == {"api_key": "sk_test_…4242"}
    for r in (
        api.get(f"/v1/connector_accounts/{acct['id']}"),
        api.get("/v1/connector_accounts"),
    ):
        assert r.status_code == 200
        assert SECRET not in r.text
    with runtime.db.reader() as uow:
        row = uow.session.query(ConnectorAccount).one()
        assert SECRET.encode() not in row.sealed_credentials
        aad = f"{row.merchant_id}|{row.id}".encode()
        assert SECRET in runtime.sealer.unseal(row.sealed_credentials, aad).decode()
        with pytest.raises(DecryptionError):  # bound to its row
            runtime.sealer.unseal(row.sealed_credentials, f"{row.merchant_id}|mca_other".encode())
    creds_event = [e for e in seen if e.type == "strongbox.connector_account.created"]
    assert len(creds_event) == 1
    assert creds_event[0].internal
    assert SECRET not in repr(creds_event[0])


def test_update_disable_and_delete(api: TestClient, stripe: Any) -> None:
    acct = add_account(api, "stripe", **{"credentials[api_key]": SECRET})
    r = api.post(
        f"/v1/connector_accounts/{acct['id']}",
        data={"status": "disabled", "credentials[api_key]": "sk_test_rotated000000009999"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disabled"
    assert r.json()["credentials"] == {"api_key": "sk_test_…9999"}
    set_routing(api, {"default": {"connectors": [acct["id"]]}})
    err = error_of(api.delete(f"/v1/connector_accounts/{acct['id']}"), 400)
    assert err["code"] == "resource_in_use"
    set_routing(api, {"rules": []})
    assert api.delete(f"/v1/connector_accounts/{acct['id']}").json()["status"] == "deleted"
    error_of(api.get(f"/v1/connector_accounts/{acct['id']}"), 404)


def test_bad_input_is_refused_and_changes_nothing(api: TestClient, runtime: Runtime) -> None:
    cases = [
        ({"connector": "nope"}, "connector", "parameter_invalid"),
        ({"connector": "stripe"}, "credentials[api_key]", "parameter_missing"),
        (
            {"connector": "stripe", "credentials[api_key]": SECRET, "credentials[pin]": "1"},
            "credentials[pin]",
            "parameter_unknown",
        ),
        (
            {"connector": "stripe", "credentials[api_key]": SECRET, "settings[region]": "eu"},
            "settings[region]",
            "parameter_unknown",
        ),
    ]
    for data, param, code in cases:
        err = error_of(api.post("/v1/connector_accounts", data=data), 400)
        assert (err["param"], err["code"]) == (param, code)
        assert SECRET not in err["message"]
    assert api.get("/v1/connector_accounts").json()["data"] == []


def test_wrong_tenant_gets_404(
    api: TestClient, client: TestClient, new_merchant: Any, stripe: Any
) -> None:
    acct = add_account(api, "stripe", **{"credentials[api_key]": SECRET})
    other: Merchant = new_merchant()
    h = other.headers
    error_of(client.get(f"/v1/connector_accounts/{acct['id']}", headers=h), 404)
    error_of(
        client.post(f"/v1/connector_accounts/{acct['id']}", data={"label": "x"}, headers=h), 404
    )
    error_of(client.delete(f"/v1/connector_accounts/{acct['id']}", headers=h), 404)
    assert client.get("/v1/connector_accounts", headers=h).json()["data"] == []
    # Nor can another merchant route to it.
    err = error_of(
        client.post("/v1/routing", json={"default": {"connectors": [acct["id"]]}}, headers=h), 400
    )
    assert err["code"] == "resource_missing"


def test_routing_config_roundtrip_and_validation(api: TestClient, gateways: Any) -> None:
    a = add_account(api, "sim_a")["id"]
    b = add_account(api, "sim_b")["id"]
    assert api.get("/v1/routing").json() == {
        "object": "routing_config",
        "rules": [],
        "default": None,
        "version": 0,
    }
    config = {
        "rules": [
            {
                "name": "eur",
                "when": {"currency": ["eur"], "amount_gte": 100},
                "connectors": [b, a],
            }
        ],
        "default": {"connectors": [a, b], "weights": {a: 80, b: 20}},
    }
    body = set_routing(api, config)
    assert body["version"] == 1
    assert body["rules"][0]["name"] == "eur"
    assert api.get("/v1/routing").json()["default"]["weights"] == {a: 80, b: 20}
    err = error_of(api.post("/v1/routing", json={"default": {"connectors": [a, a]}}), 400)
    assert err["code"] == "parameter_invalid"
    assert err["param"] == "default[connectors]"
    err = error_of(api.post("/v1/routing", json={"default": {"connectors": ["mca_nope"]}}), 400)
    assert err["code"] == "resource_missing"
    assert api.get("/v1/routing").json()["version"] == 1  # unchanged

    r = api.post("/v1/routing/decide", json={"amount": 500, "currency": "EUR"})
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["rule"] == "eur"
    assert [x["connector_account"] for x in decision["ranked"]] == [b, a]
    assert [x["connector"] for x in decision["ranked"]] == ["sim_b", "sim_a"]
    same = api.post(
        "/v1/routing/decide", json={"amount": 5, "currency": "usd", "payment_id": "pi_x"}
    )
    again = api.post(
        "/v1/routing/decide", json={"amount": 5, "currency": "usd", "payment_id": "pi_x"}
    )
    assert same.json()["ranked"] == again.json()["ranked"]
    assert same.json()["rule"] == "default"
    error_of(api.post("/v1/routing/decide", json={"amount": 5}), 400)
    # Metadata follows Stripe's rules here too (no line breaks or brackets in keys).
    for key in ("a\nb", "a[b]"):
        bad = {"amount": 5, "currency": "usd", "metadata": {key: "x"}}
        assert error_of(api.post("/v1/routing/decide", json=bad), 400)["param"] == "metadata"


def test_form_encoded_routing_config(api: TestClient, gateways: Any) -> None:
    a = add_account(api, "sim_a")["id"]
    r = api.post(
        "/v1/routing",
        data={
            "rules[0][name]": "big",
            "rules[0][when][amount_gte]": "100000",
            "rules[0][connectors][0]": a,
            "default[connectors][0]": a,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["rules"][0]["when"]["amount_gte"] == 100000
