"""Payments through the Stripe connector against the local Stripe fake, over our HTTP API."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from routing_helpers import add_account, attempts, confirm, set_routing

from connectors.fakes.stripe_fake import StripeFake, pi_id
from strongbox.connectors.base import OperationKind
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import error_of

KEY = "sk_test_merchantone0000000001"


def stripe_account(api: TestClient) -> str:
    acct = add_account(api, "stripe", **{"credentials[api_key]": KEY})
    set_routing(api, {"default": {"connectors": [acct["id"]]}})
    return str(acct["id"])


def test_charge_capture_and_refund_through_stripe(api: TestClient, stripe: StripeFake) -> None:
    account = stripe_account(api)
    r = confirm(api, capture_method="manual")
    assert r.status_code == 200, r.text
    pi = r.json()
    assert pi["status"] == "requires_capture"
    [auth] = attempts(api, pi["id"])
    assert auth["connector"] == "stripe"
    assert auth["connector_account"] == account
    charge = next(iter(stripe.engine.charges()))
    assert auth["gateway_reference"] == pi_id(charge.reference)
    # Stripe saw our attempt-derived idempotency key and the merchant's own API key.
    [create] = [h for h in stripe.seen_headers if h["idempotency-key"] == f"strongbox-{auth['id']}"]
    assert create["authorization"] == f"Bearer {KEY}"
    assert charge.merchant_id == "acct_merchantone0000000001"

    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "1500"})
    assert r.status_code == 200, r.text
    assert r.json()["amount_received"] == 1500
    r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "500"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    [after] = stripe.engine.charges()
    assert (after.captured_amount, after.refunded_amount) == (1500, 500)


def test_stripe_decline_maps_to_stripe_decline_code(api: TestClient, stripe: StripeFake) -> None:
    stripe_account(api)
    err = error_of(confirm(api, "pm_card_chargeDeclinedInsufficientFunds"), 402)
    assert err["decline_code"] == "insufficient_funds"
    assert err["payment_intent"]["status"] == "requires_payment_method"


def test_stripe_timeout_is_pending_and_recovery_finds_the_charge(
    api: TestClient, runtime: Runtime, stripe: StripeFake
) -> None:
    stripe_account(api)
    stripe.engine.inject("drop_response", operations={OperationKind.AUTHORIZE})
    pi = confirm(api).json()
    assert pi["status"] == "processing"
    assert recover_once(runtime, min_age=timedelta(0)) == 1
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "succeeded"
    assert len(stripe.engine.charges()) == 1  # found by search on our metadata, never re-sent


def test_bad_stripe_credentials_fail_cleanly(api: TestClient, stripe: StripeFake) -> None:
    acct = add_account(api, "stripe", **{"credentials[api_key]": "rk_live_wrongwrongwrong1234"})
    set_routing(api, {"default": {"connectors": [acct["id"]]}})
    err = error_of(confirm(api), 502)
    assert err["code"] == "gateway_error"
    assert "wrongwrong" not in str(err)
    assert stripe.engine.charges() == []
