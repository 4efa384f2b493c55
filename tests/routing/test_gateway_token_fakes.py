"""Gateway tokens end to end: our HTTP API → the real Stripe and Braintree connectors → the
local fakes of their gateways, which play Stripe.js / Braintree's client SDK too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from routing_helpers import add_account, attempts, confirm, set_routing

from connectors.fakes.braintree_fake import BraintreeFake
from connectors.fakes.stripe_fake import StripeFake, pi_id
from strongbox.connectors.base import OperationKind
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import error_of

STRIPE_KEY = "sk_test_merchantone0000000001"


def accounts(api: TestClient) -> dict[str, str]:
    """A Stripe and a Braintree account; ordinary payments route to the simulator."""
    sim = add_account(api, "simulator")["id"]
    stripe = add_account(api, "stripe", **{"credentials[api_key]": STRIPE_KEY})["id"]
    braintree = add_account(
        api,
        "braintree",
        **{
            "credentials[private_key]": "bt_private_key_value",
            "settings[merchant_id]": "bt_merchant",
            "settings[public_key]": "bt_public",
        },
    )["id"]
    set_routing(api, {"default": {"connectors": [sim]}})
    return {"simulator": sim, "stripe": stripe, "braintree": braintree}


def token_pm(api: TestClient, token: str, account: str) -> dict[str, Any]:
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": token, "connector_account": account},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_stripe_payment_method_from_stripe_js(
    api: TestClient, runtime: Runtime, stripe: StripeFake
) -> None:
    account = accounts(api)["stripe"]
    token = stripe.create_payment_method("5555555555554444", 8, 2031)
    pm = token_pm(api, token, account)
    card = pm["card"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "mastercard",
        "4444",
        8,
        2031,
    )
    assert card["fingerprint"]  # Stripe's own
    intent = confirm(api, pm["id"], capture_method="manual").json()
    assert intent["status"] == "requires_capture", intent
    [auth] = attempts(api, intent["id"])
    assert auth["connector_account"] == account
    assert auth["routing"]["rule"] == "payment_method"
    gateway_pi = auth["gateway_reference"]
    assert stripe.intent_sources[gateway_pi] == token
    form = stripe.intent_forms[gateway_pi]
    assert form["payment_method"] == token
    assert not any(k.startswith("payment_method_data[card]") for k in form)
    r = api.post(f"/v1/payment_intents/{intent['id']}/capture")
    assert r.status_code == 200, r.text
    r = api.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": "300"})
    assert r.status_code == 200, r.text
    [charge] = stripe.engine.charges()
    assert (charge.captured_amount, charge.refunded_amount) == (2000, 300)
    assert pi_id(charge.reference) == gateway_pi


def test_stripe_payment_method_a_customer_holds_pays_again_with_its_customer(
    api: TestClient, stripe: StripeFake
) -> None:
    account = accounts(api)["stripe"]
    token = stripe.create_payment_method("4242424242424242")
    stripe.attach_payment_method(token, "cus_Held")
    pm = token_pm(api, token, account)
    for _ in range(2):
        intent = confirm(api, pm["id"]).json()
        assert intent["status"] == "succeeded", intent
        [auth] = attempts(api, intent["id"])
        form = stripe.intent_forms[auth["gateway_reference"]]
        assert (form["payment_method"], form["customer"]) == (token, "cus_Held")
    assert len(stripe.engine.charges()) == 2
    assert "cus_Held" not in str(api.get(f"/v1/payment_methods/{pm['id']}").json())


def test_stripe_legacy_token_pays_once(api: TestClient, stripe: StripeFake) -> None:
    account = accounts(api)["stripe"]
    pm = token_pm(api, stripe.create_token("4242424242424242"), account)
    assert confirm(api, pm["id"]).json()["status"] == "succeeded"
    err = error_of(confirm(api, pm["id"]), 400)
    assert err["code"] == "payment_method_unavailable"
    assert err["payment_intent"]["status"] == "requires_payment_method"
    assert len(stripe.engine.charges()) == 1


def test_stripe_decline_and_unknown_token(api: TestClient, stripe: StripeFake) -> None:
    account = accounts(api)["stripe"]
    pm = token_pm(api, stripe.create_payment_method("4000000000009995"), account)
    err = error_of(confirm(api, pm["id"]), 402, type_="card_error")
    assert err["decline_code"] == "insufficient_funds"
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": "pm_NeverMadeByStripe", "connector_account": account},
    )
    assert error_of(r, 404)["param"] == "card[token]"


def test_stripe_lost_answer_is_found_by_lookup_not_resent(
    api: TestClient, runtime: Runtime, stripe: StripeFake
) -> None:
    account = accounts(api)["stripe"]
    pm = token_pm(api, stripe.create_payment_method("4242424242424242"), account)
    stripe.engine.inject("drop_response", operations={OperationKind.AUTHORIZE})
    intent = confirm(api, pm["id"]).json()
    assert intent["status"] == "processing"
    assert recover_once(runtime, min_age=timedelta(0)) == 1
    assert api.get(f"/v1/payment_intents/{intent['id']}").json()["status"] == "succeeded"
    assert len(stripe.engine.charges()) == 1


def test_braintree_nonce_from_drop_in(api: TestClient, braintree: BraintreeFake) -> None:
    ids = accounts(api)
    nonce = braintree.make_nonce("378282246310005", 3, 2030)
    pm = token_pm(api, nonce, ids["braintree"])
    card = pm["card"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "amex",
        "0005",
        3,
        2030,
    )
    assert card["country"] == "US"
    intent = confirm(api, pm["id"]).json()
    assert intent["status"] == "succeeded", intent
    [auth] = attempts(api, intent["id"])
    assert auth["connector_account"] == ids["braintree"]
    [sale] = braintree.sales_with_nonce(nonce)
    assert "378282246310005" not in sale.body
    assert "credit_card" not in sale.params
    # A nonce is single use: the second payment is refused by Braintree and charges nothing.
    err = error_of(confirm(api, pm["id"]), 400)
    assert err["code"] == "payment_method_unavailable"
    assert len(braintree.sales_with_nonce(nonce)) == 2
    assert len(braintree.engine.charges()) == 1


def test_tokens_of_one_gateway_cannot_be_sent_to_another(
    api: TestClient, stripe: StripeFake, braintree: BraintreeFake
) -> None:
    ids = accounts(api)
    nonce = braintree.make_nonce("4111111111111111")
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": nonce, "connector_account": ids["stripe"]},
    )
    assert error_of(r, 404)["param"] == "card[token]"  # Stripe knows no Braintree nonce
    r = api.post(
        "/v1/payment_methods",
        data={"type": "card", "card[token]": nonce, "connector_account": ids["simulator"]},
    )
    assert error_of(r, 400)["code"] == "parameter_invalid"
    assert stripe.engine.charges() == []
    assert braintree.engine.charges() == []
