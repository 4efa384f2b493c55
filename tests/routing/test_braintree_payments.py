"""Payments through the Braintree connector (official SDK) against the local Braintree fake."""

from __future__ import annotations

from fastapi.testclient import TestClient
from routing_helpers import add_account, attempts, confirm, set_routing

from connectors.fakes.braintree_fake import BraintreeFake
from support import error_of


def braintree_account(api: TestClient) -> str:
    acct = add_account(
        api,
        "braintree",
        **{
            "credentials[private_key]": "bt_private_key_value",
            "settings[merchant_id]": "bt_merchant",
            "settings[public_key]": "bt_public",
        },
    )
    assert acct["credentials"] == {"private_key": "bt_…alue"}
    set_routing(api, {"default": {"connectors": [acct["id"]]}})
    return str(acct["id"])


def test_authorize_capture_refund_through_braintree(
    api: TestClient, braintree: BraintreeFake
) -> None:
    account = braintree_account(api)
    r = confirm(api, capture_method="manual")
    assert r.status_code == 200, r.text
    pi = r.json()
    assert pi["status"] == "requires_capture"
    [auth] = attempts(api, pi["id"])
    assert auth["connector_account"] == account
    assert braintree.sales[auth["gateway_reference"]]["order_id"] == f"strongbox-{auth['id']}"
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "1200"})
    assert r.status_code == 200, r.text
    assert r.json()["amount_received"] == 1200
    r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "200"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    [charge] = braintree.engine.charges()
    assert (charge.captured_amount, charge.refunded_amount) == (1200, 200)


def test_braintree_decline_and_missing_settings(api: TestClient, braintree: BraintreeFake) -> None:
    braintree_account(api)
    err = error_of(confirm(api, "pm_card_chargeDeclinedInsufficientFunds"), 402)
    assert err["decline_code"] == "insufficient_funds"
    err = error_of(
        api.post(
            "/v1/connector_accounts",
            data={"connector": "braintree", "credentials[private_key]": "x" * 20},
        ),
        400,
    )
    assert (err["param"], err["code"]) == ("settings[merchant_id]", "parameter_missing")
