"""Stripe's official Python library, unchanged, against a live Strongbox server.

Every test points ``stripe`` at a uvicorn server in a thread (``live_server``): through
``stripe.StripeClient(base_addresses={"api": ...})`` and, in one test, through the legacy
module globals ``stripe.api_base`` / ``stripe.api_key``. Nothing here talks to stripe.com.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from connectors.fakes.stripe_fake import StripeFake
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.connectors.stripe import StripeConnector
from strongbox.runtime import Runtime
from support import LiveServer, Merchant, make_merchant

RETURN_URL = "https://shop.example/return"


def _client(server: LiveServer, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key=key, base_addresses={"api": server.url}, max_network_retries=0
    )


@pytest.fixture
def sc(live_server: LiveServer, merchant: Merchant) -> stripe.StripeClient:
    """A StripeClient authenticated as ``merchant`` against the live server."""
    return _client(live_server, merchant.secret_key)


def _meta(obj: Any) -> dict[str, Any]:
    """An object's metadata as a plain dict."""
    return dict(obj.metadata.to_dict())


def _pay(
    sc: stripe.StripeClient, amount: int = 2000, pm: str = "pm_card_visa", **extra: Any
) -> stripe.PaymentIntent:
    params: dict[str, Any] = {
        "amount": amount,
        "currency": "usd",
        "payment_method": pm,
        "confirm": True,
        **extra,
    }
    return sc.v1.payment_intents.create(params=params)  # type: ignore[arg-type]


# ---------------------------------------------------------------- payment intents


def test_create_with_confirm_succeeds(sc: stripe.StripeClient) -> None:
    pi = _pay(sc, 2000, description="Order 1", metadata={"order_id": "6735"})
    assert isinstance(pi, stripe.PaymentIntent)
    assert pi.id.startswith("pi_")
    assert pi.object == "payment_intent"
    assert pi.status == "succeeded"
    assert pi.amount == 2000
    assert pi.amount_received == 2000
    assert pi.amount_capturable == 0
    assert pi.currency == "usd"
    assert pi.description == "Order 1"
    assert _meta(pi) == {"order_id": "6735"}
    assert pi.livemode is False
    assert isinstance(pi.payment_method, str)
    assert pi.payment_method.startswith("pm_")
    assert isinstance(pi.latest_charge, str)
    assert pi.latest_charge.startswith("ch_")
    assert pi.client_secret is not None
    assert pi.client_secret.startswith(pi.id + "_secret_")
    assert pi.last_response is not None
    assert pi.last_response.code == 200
    assert pi.last_response.request_id is not None
    assert pi.last_response.request_id.startswith("req_")


def test_create_then_confirm(sc: stripe.StripeClient) -> None:
    pi = sc.v1.payment_intents.create(params={"amount": 1500, "currency": "eur"})
    assert pi.status == "requires_payment_method"
    assert pi.payment_method is None
    assert pi.amount_received == 0

    confirmed = sc.v1.payment_intents.confirm(
        pi.id, params={"payment_method": "pm_card_mastercard"}
    )
    assert confirmed.id == pi.id
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1500
    assert confirmed.currency == "eur"

    # Confirming again is an unexpected state, reported with the intent attached.
    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.payment_intents.confirm(pi.id)
    assert exc.value.http_status == 400
    assert exc.value.code == "payment_intent_unexpected_state"
    assert exc.value.error is not None
    assert exc.value.error.payment_intent is not None
    assert exc.value.error.payment_intent.id == pi.id
    assert exc.value.error.payment_intent.status == "succeeded"


def test_confirm_with_payment_method_set_at_creation(sc: stripe.StripeClient) -> None:
    pi = sc.v1.payment_intents.create(
        params={"amount": 999, "currency": "usd", "payment_method": "pm_card_amex"}
    )
    assert pi.status == "requires_confirmation"
    done = sc.v1.payment_intents.confirm(pi.id)
    assert done.status == "succeeded"
    assert done.amount_received == 999


def test_text_survives_form_encoding(sc: stripe.StripeClient) -> None:
    """Non-ASCII and reserved characters go through the library's form encoding intact."""
    description = "Café ☕ 注文 — a+b & c=d; 100% [sic] ?x=#y"
    pi = sc.v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "jpy",
            "description": description,
            "metadata": {"note": "ünïcødé + spaces & more=yes", "2024": "numeric key"},
        }
    )
    got = sc.v1.payment_intents.retrieve(pi.id)
    assert got.description == description
    assert got.amount == 500
    assert got.currency == "jpy"
    assert _meta(got) == {"note": "ünïcødé + spaces & more=yes", "2024": "numeric key"}
    cus = sc.v1.customers.create(
        params={"name": "Zoë O'Brien-Łukasz", "email": "zoe+1@example.com"}
    )
    found = sc.v1.customers.list(params={"email": "zoe+1@example.com"})
    assert [c.id for c in found.data] == [cus.id]
    assert found.data[0].name == "Zoë O'Brien-Łukasz"


def test_retrieve_and_update(sc: stripe.StripeClient) -> None:
    pi = sc.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "metadata": {"a": "1", "b": "2"}}
    )
    got = sc.v1.payment_intents.retrieve(pi.id)
    assert got.id == pi.id
    assert got.amount == 1000
    assert _meta(got) == {"a": "1", "b": "2"}

    updated = sc.v1.payment_intents.update(
        pi.id,
        params={
            "amount": 1250,
            "description": "updated",
            "metadata": {"a": "", "c": "3"},  # "" removes a key (Stripe semantics)
        },
    )
    assert updated.amount == 1250
    assert updated.description == "updated"
    assert _meta(updated) == {"b": "2", "c": "3"}

    again = sc.v1.payment_intents.retrieve(pi.id)
    assert again.amount == 1250
    assert _meta(again) == {"b": "2", "c": "3"}

    # The amount cannot change once the payment succeeded.
    done = sc.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    assert done.amount_received == 1250
    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.payment_intents.update(pi.id, params={"amount": 5000})
    assert exc.value.code == "payment_intent_unexpected_state"
    assert exc.value.param == "amount"
    # Metadata still can.
    meta = sc.v1.payment_intents.update(pi.id, params={"metadata": {"shipped": "yes"}})
    assert _meta(meta) == {"b": "2", "c": "3", "shipped": "yes"}
    assert meta.amount == 1250


def test_list_with_pagination(sc: stripe.StripeClient) -> None:
    ids = [
        sc.v1.payment_intents.create(params={"amount": 100 + i, "currency": "usd"}).id
        for i in range(5)
    ]
    newest_first = list(reversed(ids))

    page1 = sc.v1.payment_intents.list(params={"limit": 2})
    assert page1["object"] == "list"
    assert page1["url"] == "/v1/payment_intents"
    assert page1.has_more is True
    assert [p.id for p in page1.data] == newest_first[:2]
    assert all(isinstance(p, stripe.PaymentIntent) for p in page1.data)

    page2 = sc.v1.payment_intents.list(params={"limit": 2, "starting_after": page1.data[-1].id})
    assert [p.id for p in page2.data] == newest_first[2:4]
    assert page2.has_more is True

    page3 = sc.v1.payment_intents.list(params={"limit": 2, "starting_after": page2.data[-1].id})
    assert [p.id for p in page3.data] == newest_first[4:]
    assert page3.has_more is False

    back = sc.v1.payment_intents.list(params={"limit": 2, "ending_before": page3.data[0].id})
    assert [p.id for p in back.data] == newest_first[2:4]

    # The library follows has_more/starting_after by itself.
    walked = [p.id for p in sc.v1.payment_intents.list(params={"limit": 2}).auto_paging_iter()]
    assert walked == newest_first
    amounts = [p.amount for p in sc.v1.payment_intents.list(params={"limit": 3}).auto_paging_iter()]
    assert amounts == [104, 103, 102, 101, 100]

    # An unknown cursor is reported on its parameter.
    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.payment_intents.list(params={"starting_after": "pi_doesnotexist"})
    assert exc.value.http_status == 404
    assert exc.value.param == "starting_after"


def test_list_filtered_by_customer(sc: stripe.StripeClient) -> None:
    cus = sc.v1.customers.create(params={"email": "filter@example.com"})
    mine = sc.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "customer": cus.id}
    )
    sc.v1.payment_intents.create(params={"amount": 800, "currency": "usd"})
    listed = sc.v1.payment_intents.list(params={"customer": cus.id})
    assert [p.id for p in listed.data] == [mine.id]
    assert listed.data[0].customer == cus.id


def test_manual_capture_partial(sc: stripe.StripeClient) -> None:
    pi = _pay(sc, 5000, capture_method="manual")
    assert pi.status == "requires_capture"
    assert pi.capture_method == "manual"
    assert pi.amount_capturable == 5000
    assert pi.amount_received == 0

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 6000})
    assert exc.value.code == "amount_too_large"
    assert exc.value.param == "amount_to_capture"

    captured = sc.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 3000})
    assert captured.status == "succeeded"
    assert captured.amount == 5000
    assert captured.amount_received == 3000
    assert captured.amount_capturable == 0

    # Refunds are limited to what was captured.
    with pytest.raises(stripe.InvalidRequestError) as over:
        sc.v1.refunds.create(params={"payment_intent": pi.id, "amount": 3001})
    assert over.value.code == "amount_too_large"
    full = sc.v1.refunds.create(params={"payment_intent": pi.id})
    assert full.amount == 3000


def test_manual_capture_full(sc: stripe.StripeClient) -> None:
    pi = sc.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "capture_method": "manual"}
    )
    authorized = sc.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert authorized.status == "requires_capture"
    captured = sc.v1.payment_intents.capture(pi.id)
    assert captured.status == "succeeded"
    assert captured.amount_received == 4200


def test_cancel_with_reason(sc: stripe.StripeClient) -> None:
    pi = sc.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    canceled = sc.v1.payment_intents.cancel(
        pi.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert isinstance(canceled.canceled_at, int)
    assert canceled.canceled_at >= pi.created

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert exc.value.code == "payment_intent_unexpected_state"

    with pytest.raises(stripe.InvalidRequestError) as bad:
        sc.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "bored"})
    assert bad.value.param == "cancellation_reason"


def test_cancel_authorized_payment_voids_it(sc: stripe.StripeClient) -> None:
    pi = _pay(sc, 3300, capture_method="manual")
    assert pi.status == "requires_capture"
    canceled = sc.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "abandoned"
    assert canceled.amount_capturable == 0
    assert canceled.amount_received == 0


def test_expand_customer_and_payment_method(sc: stripe.StripeClient) -> None:
    cus = sc.v1.customers.create(params={"email": "jenny@example.com", "name": "Jenny Rosen"})
    pi = _pay(sc, 2500, customer=cus.id, expand=["customer", "payment_method"])
    assert isinstance(pi.customer, stripe.Customer)
    assert pi.customer.id == cus.id
    assert pi.customer.email == "jenny@example.com"
    assert isinstance(pi.payment_method, stripe.PaymentMethod)
    assert pi.payment_method.card is not None
    assert pi.payment_method.card.last4 == "4242"
    assert pi.payment_method.card.brand == "visa"

    got = sc.v1.payment_intents.retrieve(pi.id, params={"expand": ["customer", "payment_method"]})
    assert isinstance(got.customer, stripe.Customer)
    assert got.customer.name == "Jenny Rosen"
    assert isinstance(got.payment_method, stripe.PaymentMethod)
    assert got.payment_method.id == pi.payment_method.id

    plain = sc.v1.payment_intents.retrieve(pi.id)
    assert plain.customer == cus.id
    assert plain.payment_method == pi.payment_method.id

    listed = sc.v1.payment_intents.list(params={"limit": 1, "expand": ["data.customer"]})
    assert isinstance(listed.data[0].customer, stripe.Customer)
    assert listed.data[0].customer.id == cus.id

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge.balance"]})
    assert exc.value.param == "expand"


# ---------------------------------------------------------------- declines and 3DS


@pytest.mark.parametrize(
    ("pm", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
    ],
)
def test_decline_raises_card_error(
    sc: stripe.StripeClient, pm: str, decline_code: str, message: str
) -> None:
    with pytest.raises(stripe.CardError) as exc:
        _pay(sc, 2000, pm=pm)
    err = exc.value
    assert err.http_status == 402
    assert err.code == "card_declined"
    assert err.user_message == message
    assert err.error is not None
    assert err.error.type == "card_error"
    assert err.error.decline_code == decline_code
    pi = err.error.payment_intent
    assert isinstance(pi, stripe.PaymentIntent)
    assert pi.id.startswith("pi_")
    assert pi.status == "requires_payment_method"
    assert pi.amount_received == 0
    assert pi.last_payment_error is not None
    assert pi.last_payment_error.code == "card_declined"
    assert pi.last_payment_error.decline_code == decline_code

    stored = sc.v1.payment_intents.retrieve(pi.id)
    assert stored.status == "requires_payment_method"
    assert stored.last_payment_error is not None
    assert stored.last_payment_error.decline_code == decline_code

    # The customer may retry with another card on the same intent.
    retried = sc.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert retried.status == "succeeded"
    assert retried.last_payment_error is None
    assert retried.amount_received == 2000


def _challenge(server: LiveServer, pi: stripe.PaymentIntent) -> str:
    """The 3DS challenge path on the live server, from the intent's next_action."""
    assert pi.status == "requires_action"
    assert pi.next_action is not None
    assert pi.next_action.type == "redirect_to_url"
    redirect = pi.next_action.redirect_to_url
    assert redirect is not None
    assert redirect.return_url == RETURN_URL
    assert redirect.url is not None
    path = urlsplit(redirect.url).path
    assert path.startswith("/simulator/3ds/")
    return path


def test_3ds_challenge_completed(sc: stripe.StripeClient, live_server: LiveServer) -> None:
    pi = _pay(sc, 3100, pm="pm_card_authenticationRequired", return_url=RETURN_URL)
    path = _challenge(live_server, pi)
    assert pi.amount_received == 0

    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        page = http.get(path)
        assert page.status_code == 200
        assert "3100 USD" in page.text
        # A browser posting the form is sent back to the merchant's return_url.
        done = http.post(path + "/complete")
    assert done.status_code == 303
    location = urlsplit(done.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL
    assert parse_qs(location.query)["redirect_status"] == ["succeeded"]

    after = sc.v1.payment_intents.retrieve(pi.id)
    assert after.status == "succeeded"
    assert after.amount_received == 3100
    assert after.next_action is None
    assert after.last_payment_error is None


def test_3ds_challenge_failed(sc: stripe.StripeClient, live_server: LiveServer) -> None:
    pi = _pay(sc, 3200, pm="pm_card_authenticationRequired", return_url=RETURN_URL)
    path = _challenge(live_server, pi)

    failed = httpx.post(
        live_server.url + path + "/fail", headers={"Accept": "application/json"}, timeout=60
    )
    assert failed.status_code == 200
    assert failed.json()["succeeded"] is False

    after = sc.v1.payment_intents.retrieve(pi.id)
    assert after.status == "requires_payment_method"
    assert after.amount_received == 0
    assert after.next_action is None
    assert after.last_payment_error is not None
    assert after.last_payment_error.code == "payment_intent_authentication_failure"
    assert after.last_payment_error.type == "card_error"


def test_3ds_abandoned_by_cancel(sc: stripe.StripeClient) -> None:
    pi = _pay(sc, 1200, pm="pm_card_authenticationRequired", return_url=RETURN_URL)
    assert pi.status == "requires_action"
    canceled = sc.v1.payment_intents.cancel(pi.id)
    assert canceled.status == "canceled"
    assert canceled.next_action is None


# ---------------------------------------------------------------- refunds


def test_full_refund(sc: stripe.StripeClient) -> None:
    pi = _pay(sc, 2000)
    refund = sc.v1.refunds.create(params={"payment_intent": pi.id, "reason": "duplicate"})
    assert isinstance(refund, stripe.Refund)
    assert refund.id.startswith("re_")
    assert refund.amount == 2000
    assert refund.currency == "usd"
    assert refund.status == "succeeded"
    assert refund.reason == "duplicate"
    assert refund.payment_intent == pi.id
    assert refund.charge == pi.latest_charge

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1})
    assert exc.value.code == "charge_already_refunded"


def test_partial_refunds_list_retrieve_and_over_refund(sc: stripe.StripeClient) -> None:
    pi = _pay(sc, 5000)
    other = _pay(sc, 900)
    sc.v1.refunds.create(params={"payment_intent": other.id})

    r1 = sc.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1000})
    r2 = sc.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 1500, "metadata": {"ticket": "T-1"}}
    )
    charge = pi.latest_charge
    assert isinstance(charge, str)
    by_charge = sc.v1.refunds.create(params={"charge": charge, "amount": 500})
    assert (r1.amount, r2.amount, by_charge.amount) == (1000, 1500, 500)
    assert {r1.status, r2.status, by_charge.status} == {"succeeded"}
    assert by_charge.payment_intent == pi.id

    listed = sc.v1.refunds.list(params={"payment_intent": pi.id})
    assert [r.id for r in listed.data] == [by_charge.id, r2.id, r1.id]
    assert sum(r.amount for r in listed.data) == 3000
    assert listed.has_more is False

    got = sc.v1.refunds.retrieve(r2.id)
    assert got.id == r2.id
    assert got.amount == 1500
    assert _meta(got) == {"ticket": "T-1"}

    expanded = sc.v1.refunds.retrieve(r1.id, params={"expand": ["payment_intent"]})
    assert isinstance(expanded.payment_intent, stripe.PaymentIntent)
    assert expanded.payment_intent.id == pi.id

    updated = sc.v1.refunds.update(r1.id, params={"metadata": {"note": "late delivery"}})
    assert _meta(updated) == {"note": "late delivery"}

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.refunds.create(params={"payment_intent": pi.id, "amount": 2001})
    assert exc.value.http_status == 400
    assert exc.value.code == "amount_too_large"
    assert exc.value.param == "amount"

    last = sc.v1.refunds.create(params={"payment_intent": pi.id})
    assert last.amount == 2000
    all_refunds = list(sc.v1.refunds.list(params={"limit": 2}).auto_paging_iter())
    assert len(all_refunds) == 5  # 1 on the other intent, 4 on this one


def test_refund_of_unpaid_intent_is_rejected(sc: stripe.StripeClient) -> None:
    pi = sc.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.refunds.create(params={"payment_intent": pi.id})
    assert exc.value.param == "payment_intent"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sc.v1.refunds.create(params={})
    assert missing.value.code == "parameter_missing"


# ---------------------------------------------------------------- customers


def test_customer_lifecycle(sc: stripe.StripeClient) -> None:
    cus = sc.v1.customers.create(
        params={
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "phone": "+44 20 7946 0000",
            "metadata": {"tier": "gold"},
            "address": {"line1": "12 St James's Sq", "city": "London", "country": "GB"},
        }
    )
    assert isinstance(cus, stripe.Customer)
    assert cus.id.startswith("cus_")
    assert cus.email == "ada@example.com"
    assert cus.name == "Ada Lovelace"
    assert _meta(cus) == {"tier": "gold"}
    assert cus.address is not None
    assert cus.address.city == "London"

    got = sc.v1.customers.retrieve(cus.id)
    assert got.id == cus.id
    assert got.phone == "+44 20 7946 0000"

    updated = sc.v1.customers.update(
        cus.id, params={"name": "Ada King", "metadata": {"tier": "", "vip": "1"}}
    )
    assert updated.name == "Ada King"
    assert updated.email == "ada@example.com"
    assert _meta(updated) == {"vip": "1"}

    other = sc.v1.customers.create(params={"email": "bob@example.com"})
    everyone = sc.v1.customers.list(params={"limit": 10})
    assert [c.id for c in everyone.data] == [other.id, cus.id]
    only_ada = sc.v1.customers.list(params={"email": "ada@example.com"})
    assert [c.id for c in only_ada.data] == [cus.id]
    walked = [c.id for c in sc.v1.customers.list(params={"limit": 1}).auto_paging_iter()]
    assert walked == [other.id, cus.id]

    deleted = sc.v1.customers.delete(cus.id)
    assert deleted.id == cus.id
    assert deleted.deleted is True
    assert sc.v1.customers.retrieve(cus.id).deleted is True
    assert [c.id for c in sc.v1.customers.list().data] == [other.id]

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.customers.update(cus.id, params={"name": "ghost"})
    assert exc.value.http_status == 404
    assert exc.value.code == "resource_missing"


# ---------------------------------------------------------------- payment methods


def test_payment_method_attach_list_retrieve_detach(sc: stripe.StripeClient) -> None:
    cus = sc.v1.customers.create(params={"email": "pm@example.com"})
    pm = sc.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    assert isinstance(pm, stripe.PaymentMethod)
    assert pm.id.startswith("pm_")
    assert pm.id != "pm_card_visa"  # a test method materializes a new object
    assert pm.customer == cus.id
    assert pm.type == "card"
    assert pm.card is not None
    assert (pm.card.brand, pm.card.last4, pm.card.funding) == ("visa", "4242", "credit")

    mc = sc.v1.payment_methods.attach("pm_card_mastercard", params={"customer": cus.id})
    listed = sc.v1.payment_methods.list(params={"customer": cus.id, "type": "card"})
    assert [p.id for p in listed.data] == [mc.id, pm.id]

    got = sc.v1.payment_methods.retrieve(pm.id, params={"expand": ["customer"]})
    assert isinstance(got.customer, stripe.Customer)
    assert got.customer.email == "pm@example.com"

    # Pay with the saved card on behalf of the customer.
    paid = _pay(sc, 1800, pm=pm.id, customer=cus.id)
    assert paid.status == "succeeded"
    assert paid.payment_method == pm.id

    detached = sc.v1.payment_methods.detach(pm.id)
    assert detached.id == pm.id
    assert detached.customer is None
    remaining = sc.v1.payment_methods.list(params={"customer": cus.id})
    assert [p.id for p in remaining.data] == [mc.id]

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.payment_methods.detach(pm.id)
    assert exc.value.code == "payment_method_unexpected_state"


def test_payment_method_from_a_stripe_js_token(
    sc: stripe.StripeClient, live_server: LiveServer, runtime: Runtime, merchant: Merchant
) -> None:
    """A pm_ made by Stripe.js at the merchant's own Stripe account, wrapped through the
    library with ``card[token]`` and the ``connector_account`` extension, then paid."""
    engine = SimulatorEngine()
    fake = StripeFake(engine)
    with BackgroundServer(engine, app=fake.app) as gateway:
        url = gateway.url
        runtime.connectors.register(
            "stripe", lambda: StripeConnector(url, connect_timeout=1.0, read_timeout=2.0)
        )
        r = httpx.post(
            f"{live_server.url}/v1/connector_accounts",
            data={"connector": "stripe", "credentials[api_key]": "sk_test_e2e000000000000001"},
            headers=merchant.headers,
        )
        assert r.status_code == 200, r.text
        account = r.json()["id"]
        token = fake.create_payment_method("4242424242424242", 9, 2032)
        pm = sc.v1.payment_methods.create(
            params={"type": "card", "card": {"token": token}, "connector_account": account}  # type: ignore[typeddict-unknown-key]
        )
        assert isinstance(pm, stripe.PaymentMethod)
        assert pm.card is not None
        assert (pm.card.brand, pm.card.last4, pm.card.exp_month) == ("visa", "4242", 9)
        paid = _pay(sc, 2500, pm=pm.id)
        assert paid.status == "succeeded"
        [charge] = engine.charges()
        assert charge.captured_amount == 2500
        assert token in fake.intent_sources.values()
        # The same in one call, as Stripe's payment_method_data.
        other = fake.create_payment_method("5555555555554444")
        one_call = sc.v1.payment_intents.create(
            params={
                "amount": 1200,
                "currency": "usd",
                "confirm": True,
                "payment_method_data": {
                    "type": "card",
                    "card": {"token": other},
                    "connector_account": account,
                },
            }  # type: ignore[typeddict-item]
        )
        assert one_call.status == "succeeded"
        assert other in fake.intent_sources.values()
        with pytest.raises(stripe.InvalidRequestError) as exc:
            sc.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {"token": "pm_unknown"},
                    "connector_account": account,
                }  # type: ignore[typeddict-unknown-key]
            )
        assert exc.value.code == "resource_missing"


# ---------------------------------------------------------------- events


def test_events_list_retrieve_and_filter(sc: stripe.StripeClient) -> None:
    pi = _pay(sc, 2100)
    refund = sc.v1.refunds.create(params={"payment_intent": pi.id, "amount": 100})

    events = sc.v1.events.list(params={"limit": 100})
    types = [e.type for e in events.data]
    assert "payment_intent.created" in types
    assert "payment_intent.succeeded" in types
    assert "refund.created" in types
    assert all(e.id.startswith("evt_") for e in events.data)
    assert events.data == sorted(events.data, key=lambda e: e.created, reverse=True)

    succeeded = sc.v1.events.list(params={"type": "payment_intent.succeeded"})
    assert len(succeeded.data) == 1
    event = succeeded.data[0]
    assert isinstance(event, stripe.Event)
    assert event.type == "payment_intent.succeeded"
    obj = event.data.object
    assert obj["id"] == pi.id
    assert obj["amount_received"] == 2100

    got = sc.v1.events.retrieve(event.id)
    assert got.id == event.id
    assert got.type == "payment_intent.succeeded"
    assert got.data.object["id"] == pi.id

    both = sc.v1.events.list(params={"types": ["refund.created", "payment_intent.created"]})
    assert sorted(e.type for e in both.data) == ["payment_intent.created", "refund.created"]
    refund_event = next(e for e in both.data if e.type == "refund.created")
    assert refund_event.data.object["id"] == refund.id

    walked = list(sc.v1.events.list(params={"limit": 1}).auto_paging_iter())
    assert [e.id for e in walked] == [e.id for e in events.data]

    with pytest.raises(stripe.InvalidRequestError) as exc:
        sc.v1.events.retrieve("evt_missing")
    assert exc.value.http_status == 404


# ---------------------------------------------------------------- idempotency


def test_idempotent_replay_through_the_library(sc: stripe.StripeClient) -> None:
    params: dict[str, Any] = {
        "amount": 2600,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    first = sc.v1.payment_intents.create(params=params, options={"idempotency_key": "order-42"})  # type: ignore[arg-type]
    again = sc.v1.payment_intents.create(params=params, options={"idempotency_key": "order-42"})  # type: ignore[arg-type]
    assert again.id == first.id
    assert again.status == "succeeded"
    assert first.last_response is not None
    assert again.last_response is not None
    assert first.last_response.idempotency_key == "order-42"
    assert again.last_response.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.last_response.headers
    # Exactly one payment was made.
    listed = sc.v1.payment_intents.list()
    assert [p.id for p in listed.data] == [first.id]

    changed: dict[str, Any] = {**params, "amount": 2700}
    with pytest.raises(stripe.IdempotencyError) as exc:
        sc.v1.payment_intents.create(
            params=changed,  # type: ignore[arg-type]
            options={"idempotency_key": "order-42"},
        )
    assert exc.value.http_status == 400
    assert exc.value.error is not None
    assert exc.value.error.type == "idempotency_error"

    # A declined payment's error is replayed too.
    decline: dict[str, Any] = {**params, "payment_method": "pm_card_chargeDeclined"}
    with pytest.raises(stripe.CardError) as d1:
        sc.v1.payment_intents.create(params=decline, options={"idempotency_key": "order-43"})  # type: ignore[arg-type]
    with pytest.raises(stripe.CardError) as d2:
        sc.v1.payment_intents.create(params=decline, options={"idempotency_key": "order-43"})  # type: ignore[arg-type]
    assert d1.value.error is not None
    assert d2.value.error is not None
    assert d1.value.error.payment_intent is not None
    assert d2.value.error.payment_intent is not None
    assert d2.value.error.payment_intent.id == d1.value.error.payment_intent.id
    assert d2.value.headers is not None
    assert d2.value.headers.get("idempotent-replayed") == "true"


def test_idempotent_customer_create(sc: stripe.StripeClient) -> None:
    a = sc.v1.customers.create(params={"email": "i@example.com"}, options={"idempotency_key": "c1"})
    b = sc.v1.customers.create(params={"email": "i@example.com"}, options={"idempotency_key": "c1"})
    assert a.id == b.id
    assert len(sc.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError):
        sc.v1.customers.create(params={"email": "j@example.com"}, options={"idempotency_key": "c1"})


# ---------------------------------------------------------------- errors and tenancy


def test_bad_api_key(live_server: LiveServer, merchant: Merchant) -> None:
    bad = _client(live_server, "sk_test_" + "x" * 32)
    with pytest.raises(stripe.AuthenticationError) as exc:
        bad.v1.payment_intents.list()
    assert exc.value.http_status == 401
    assert exc.value.error is not None
    assert exc.value.error.code == "api_key_invalid"
    assert "sk_test_xxx" not in str(exc.value)

    publishable = _client(live_server, merchant.publishable_key)
    with pytest.raises(stripe.PermissionError) as perm:
        publishable.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    assert perm.value.http_status == 403


def test_other_tenants_objects_are_not_found(
    sc: stripe.StripeClient, live_server: LiveServer, runtime: Runtime
) -> None:
    other = _client(live_server, make_merchant(runtime, "Other shop").secret_key)
    their_pi = other.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    their_cus = other.v1.customers.create(params={"email": "theirs@example.com"})
    their_refund = other.v1.refunds.create(params={"payment_intent": their_pi.id, "amount": 10})
    their_pm = other.v1.payment_methods.attach("pm_card_visa", params={"customer": their_cus.id})
    their_event = other.v1.events.list(params={"limit": 1}).data[0]

    attempts: list[Any] = [
        lambda: sc.v1.payment_intents.retrieve(their_pi.id),
        lambda: sc.v1.payment_intents.update(their_pi.id, params={"metadata": {"x": "y"}}),
        lambda: sc.v1.payment_intents.cancel(their_pi.id),
        lambda: sc.v1.refunds.create(params={"payment_intent": their_pi.id}),
        lambda: sc.v1.refunds.retrieve(their_refund.id),
        lambda: sc.v1.customers.retrieve(their_cus.id),
        lambda: sc.v1.customers.delete(their_cus.id),
        lambda: sc.v1.payment_methods.retrieve(their_pm.id),
        lambda: sc.v1.payment_methods.detach(their_pm.id),
        lambda: sc.v1.events.retrieve(their_event.id),
        lambda: sc.v1.payment_intents.create(
            params={"amount": 100, "currency": "usd", "customer": their_cus.id}
        ),
    ]
    for attempt in attempts:
        with pytest.raises(stripe.InvalidRequestError) as exc:
            attempt()
        assert exc.value.http_status == 404, exc.value
        assert exc.value.code == "resource_missing"
        assert exc.value.error is not None
        assert exc.value.error.payment_intent is None  # nothing of theirs leaks

    assert sc.v1.payment_intents.list().data == []
    assert sc.v1.customers.list().data == []
    # Their objects are untouched.
    assert _meta(other.v1.payment_intents.retrieve(their_pi.id)) == {}
    assert other.v1.customers.retrieve(their_cus.id).email == "theirs@example.com"


def test_invalid_parameters(sc: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        sc.v1.payment_intents.create(params={"amount": 100, "currency": "usd", "colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.http_status == 400
    assert unknown.value.param == "colour"
    assert unknown.value.code == "parameter_unknown"

    with pytest.raises(stripe.InvalidRequestError) as nested:
        sc.v1.payment_intents.create(
            params={
                "amount": 100,
                "currency": "usd",
                "automatic_payment_methods": {"enabled": True, "bogus": "1"},  # type: ignore[typeddict-unknown-key]
            }
        )
    assert nested.value.param == "automatic_payment_methods[bogus]"

    with pytest.raises(stripe.InvalidRequestError) as missing:
        sc.v1.payment_intents.create(params={"currency": "usd"})  # type: ignore[typeddict-item]
    assert missing.value.param == "amount"
    assert missing.value.code == "parameter_missing"

    with pytest.raises(stripe.InvalidRequestError) as currency:
        sc.v1.payment_intents.create(params={"amount": 100, "currency": "zzz"})
    assert currency.value.param == "currency"

    with pytest.raises(stripe.InvalidRequestError) as no_such:
        sc.v1.payment_intents.retrieve("pi_nope")
    assert no_such.value.http_status == 404
    assert no_such.value.code == "resource_missing"


def test_raw_request_escape_hatch(sc: stripe.StripeClient) -> None:
    """``raw_request`` sends whatever the caller builds, still form-encoded by the library."""
    resp = sc.raw_request(
        "post",
        "/v1/payment_intents",
        amount=1234,
        currency="usd",
        payment_method="pm_card_visa",
        confirm="true",
        metadata={"k": "v"},
    )
    obj = sc.deserialize(resp, api_mode="V1")
    assert isinstance(obj, stripe.PaymentIntent)
    assert obj.status == "succeeded"
    assert _meta(obj) == {"k": "v"}


# stripe's HTTPXClient passes raw bytes as ``data=``, which httpx deprecates: not ours to fix.
@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
def test_async_client(live_server: LiveServer, merchant: Merchant) -> None:
    http_client = stripe.HTTPXClient()
    client = stripe.StripeClient(
        api_key=merchant.secret_key,
        base_addresses={"api": live_server.url},
        max_network_retries=0,
        http_client=http_client,
    )

    async def flow() -> tuple[stripe.PaymentIntent, stripe.Refund]:
        pi = await client.v1.payment_intents.create_async(
            params={
                "amount": 4400,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )
        refund = await client.v1.refunds.create_async(
            params={"payment_intent": pi.id, "amount": 400}
        )
        await http_client.close_async()  # type: ignore[no-untyped-call]
        return pi, refund

    pi, refund = asyncio.run(flow())
    assert pi.status == "succeeded"
    assert refund.amount == 400
    assert refund.payment_intent == pi.id


# ---------------------------------------------------------------- legacy module globals


@pytest.fixture
def legacy(live_server: LiveServer, merchant: Merchant, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's module-level configuration, restored after the test."""
    monkeypatch.setattr(stripe, "api_key", merchant.secret_key)
    monkeypatch.setattr(stripe, "api_base", live_server.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)


@pytest.mark.usefixtures("legacy")
def test_legacy_module_globals() -> None:
    pi = stripe.PaymentIntent.create(
        amount=3000,
        currency="usd",
        payment_method="pm_card_visa",
        capture_method="manual",
        confirm=True,
        expand=["payment_method"],
    )
    assert pi.status == "requires_capture"
    assert isinstance(pi.payment_method, stripe.PaymentMethod)

    captured = stripe.PaymentIntent.capture(pi.id, amount_to_capture=2000)
    assert captured.status == "succeeded"
    assert captured.amount_received == 2000

    modified = stripe.PaymentIntent.modify(pi.id, metadata={"channel": "legacy"})
    assert _meta(modified) == {"channel": "legacy"}
    assert stripe.PaymentIntent.retrieve(pi.id).metadata["channel"] == "legacy"

    refund = stripe.Refund.create(payment_intent=pi.id, amount=500)
    assert refund.amount == 500
    assert [r.id for r in stripe.Refund.list(payment_intent=pi.id).data] == [refund.id]

    cus = stripe.Customer.create(email="legacy@example.com")
    assert stripe.Customer.retrieve(cus.id).email == "legacy@example.com"
    assert stripe.Customer.delete(cus.id).deleted is True

    instance = stripe.PaymentIntent.create(amount=100, currency="usd")
    instance.cancel(cancellation_reason="duplicate")  # instance method updates in place
    assert instance.status == "canceled"
    assert instance.cancellation_reason == "duplicate"

    walked = [p.id for p in stripe.PaymentIntent.list(limit=1).auto_paging_iter()]
    assert walked == [instance.id, pi.id]

    with pytest.raises(stripe.CardError) as exc:
        stripe.PaymentIntent.create(
            amount=100,
            currency="usd",
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
            confirm=True,
        )
    assert exc.value.error is not None
    assert exc.value.error.decline_code == "insufficient_funds"

    with pytest.raises(stripe.InvalidRequestError) as bad:
        stripe.Customer.create(favourite_colour="blue")  # type: ignore[call-arg]
    assert bad.value.param == "favourite_colour"
