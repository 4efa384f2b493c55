"""PaymentIntents over HTTP: Stripe's lifecycle, capture, cancel, update, declines, 3DS, money."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from strongbox.runtime import Runtime
from support import STRIPE_STATUSES, error_of


def create(api: TestClient, **params: str) -> dict[str, Any]:
    body = {"amount": "2000", "currency": "usd", **params}
    r = api.post("/v1/payment_intents", data=body)
    assert r.status_code == 200, r.text
    pi: dict[str, Any] = r.json()
    return pi


def authorized(api: TestClient, amount: int = 2000) -> dict[str, Any]:
    pi = create(
        api,
        amount=str(amount),
        capture_method="manual",
        payment_method="pm_card_visa",
        confirm="true",
    )
    assert pi["status"] == "requires_capture"
    return pi


def in_requires_action(api: TestClient, **params: str) -> dict[str, Any]:
    pi = create(api, payment_method="pm_card_authenticationRequired", confirm="true", **params)
    assert pi["status"] == "requires_action"
    return pi


def challenge_path(pi: dict[str, Any]) -> str:
    url = pi["next_action"]["redirect_to_url"]["url"]
    return urlsplit(url).path


# --------------------------------------------------------------------------- create


def test_create_without_payment_method_requires_payment_method(api: TestClient) -> None:
    pi = create(api, description="Order 42", **{"metadata[order]": "42"})
    assert pi["object"] == "payment_intent"
    assert pi["id"].startswith("pi_")
    assert pi["status"] == "requires_payment_method"
    assert pi["amount"] == 2000
    assert pi["currency"] == "usd"
    assert pi["amount_received"] == 0
    assert pi["amount_capturable"] == 0
    assert pi["capture_method"] == "automatic"
    assert pi["payment_method"] is None
    assert pi["latest_charge"] is None
    assert pi["metadata"] == {"order": "42"}
    assert pi["description"] == "Order 42"
    assert pi["client_secret"].startswith(pi["id"] + "_secret_")
    assert pi["livemode"] is False


def test_create_with_payment_method_requires_confirmation(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa")
    assert pi["status"] == "requires_confirmation"
    assert pi["payment_method"].startswith("pm_")
    assert pi["payment_method"] != "pm_card_visa"  # a test method materializes a new pm_


def test_create_with_confirm_succeeds(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa", confirm="true")
    assert pi["status"] == "succeeded"
    assert pi["amount_received"] == 2000
    assert pi["amount_capturable"] == 0
    assert pi["latest_charge"].startswith("ch_")
    assert pi["last_payment_error"] is None
    assert pi["next_action"] is None


def test_create_accepts_json_bodies(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        json={
            "amount": 1500,
            "currency": "EUR",
            "payment_method": "pm_card_mastercard",
            "confirm": True,
            "metadata": {"n": 1, "flag": True},
        },
    )
    assert r.status_code == 200, r.text
    pi = r.json()
    assert pi["status"] == "succeeded"
    assert pi["currency"] == "eur"
    assert pi["metadata"] == {"n": "1", "flag": "true"}


def test_confirm_separately(api: TestClient) -> None:
    pi = create(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/confirm", data={"payment_method": "pm_card_visa"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    assert r.json()["amount_received"] == 2000


def test_confirm_without_payment_method_is_refused(api: TestClient) -> None:
    pi = create(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/confirm")
    err = error_of(r, 400)
    assert err["code"] == "payment_intent_unexpected_state"
    assert err["param"] == "payment_method"
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == (
        "requires_payment_method"
    )


def test_retrieve_unknown_intent_is_404(api: TestClient) -> None:
    err = error_of(api.get("/v1/payment_intents/pi_doesnotexist"), 404)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "resource_missing"


# --------------------------------------------------------------------------- capture


def test_manual_capture_authorizes_then_captures_in_full(api: TestClient) -> None:
    pi = authorized(api, 3000)
    assert pi["amount_capturable"] == 3000
    assert pi["amount_received"] == 0
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 3000
    assert done["amount_capturable"] == 0


def test_partial_capture_releases_the_rest(api: TestClient, runtime: Runtime) -> None:
    pi = authorized(api, 3000)
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "1200"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 1200
    assert done["amount_capturable"] == 0
    assert runtime.simulator is not None
    [charge] = [c for c in runtime.simulator.charges() if c.payment_id == pi["id"]]
    assert charge.captured_amount == 1200
    assert charge.released_amount == 1800


def test_over_capture_is_amount_too_large(api: TestClient) -> None:
    pi = authorized(api, 1000)
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "1001"})
    err = error_of(r, 400)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "amount_too_large"
    assert err["param"] == "amount_to_capture"
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "requires_capture"
    assert after["amount_capturable"] == 1000


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5"])
def test_capture_amount_must_be_a_positive_integer(api: TestClient, value: str) -> None:
    pi = authorized(api, 1000)
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": value})
    err = error_of(r, 400)
    assert err["param"] == "amount_to_capture"
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "requires_capture"


def test_capture_with_automatic_capture_method_is_unexpected_state(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa", confirm="true")
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture")
    err = error_of(r, 400)
    assert err["code"] == "payment_intent_unexpected_state"
    assert err["payment_intent"]["id"] == pi["id"]
    assert err["payment_intent"]["status"] == "succeeded"


@pytest.mark.parametrize("setup", ["requires_payment_method", "requires_confirmation"])
def test_capture_before_authorization_is_unexpected_state(api: TestClient, setup: str) -> None:
    pi = (
        create(api)
        if setup == "requires_payment_method"
        else create(api, payment_method="pm_card_visa")
    )
    assert pi["status"] == setup
    err = error_of(api.post(f"/v1/payment_intents/{pi['id']}/capture"), 400)
    assert err["code"] == "payment_intent_unexpected_state"


def test_second_capture_is_unexpected_state(api: TestClient) -> None:
    pi = authorized(api)
    assert api.post(f"/v1/payment_intents/{pi['id']}/capture").status_code == 200
    err = error_of(api.post(f"/v1/payment_intents/{pi['id']}/capture"), 400)
    assert err["code"] == "payment_intent_unexpected_state"


def test_capture_metadata_is_merged(api: TestClient) -> None:
    pi = authorized(api)
    r = api.post(
        f"/v1/payment_intents/{pi['id']}/capture",
        data={"metadata[shipped]": "yes"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"shipped": "yes"}


# --------------------------------------------------------------------------- cancel

REASONS = ["duplicate", "fraudulent", "requested_by_customer", "abandoned"]


def _intent_in(api: TestClient, status: str) -> dict[str, Any]:
    if status == "requires_payment_method":
        return create(api)
    if status == "requires_confirmation":
        return create(api, payment_method="pm_card_visa")
    if status == "requires_action":
        return in_requires_action(api)
    assert status == "requires_capture"
    return authorized(api)


@pytest.mark.parametrize(
    "status",
    ["requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"],
)
def test_cancel_from_each_cancelable_status(api: TestClient, runtime: Runtime, status: str) -> None:
    pi = _intent_in(api, status)
    assert pi["status"] == status
    r = api.post(
        f"/v1/payment_intents/{pi['id']}/cancel",
        data={"cancellation_reason": "requested_by_customer"},
    )
    assert r.status_code == 200, r.text
    canceled = r.json()
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_reason"] == "requested_by_customer"
    assert isinstance(canceled["canceled_at"], int)
    assert canceled["amount_capturable"] == 0
    assert canceled["amount_received"] == 0
    assert canceled["next_action"] is None
    assert runtime.simulator is not None
    charges = [c for c in runtime.simulator.charges() if c.payment_id == pi["id"]]
    if status in ("requires_capture", "requires_action"):
        # The authorization (or the open 3DS challenge) was released at the gateway.
        [charge] = charges
        assert charge.voided
        assert charge.captured_amount == 0
        assert charge.released_amount == 2000
    else:
        assert charges == []


@pytest.mark.parametrize("reason", REASONS)
def test_cancel_with_each_cancellation_reason(api: TestClient, reason: str) -> None:
    pi = create(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel", data={"cancellation_reason": reason})
    assert r.status_code == 200, r.text
    assert r.json()["cancellation_reason"] == reason
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["cancellation_reason"] == reason


@pytest.mark.parametrize("reason", REASONS)
def test_void_of_authorization_keeps_the_reason(api: TestClient, reason: str) -> None:
    pi = authorized(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel", data={"cancellation_reason": reason})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled"
    assert r.json()["cancellation_reason"] == reason


def test_cancel_without_reason_has_null_reason(api: TestClient) -> None:
    pi = create(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["cancellation_reason"] is None
    assert r.json()["status"] == "canceled"


def test_cancel_with_unknown_reason_is_refused(api: TestClient) -> None:
    pi = create(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel", data={"cancellation_reason": "bored"})
    err = error_of(r, 400)
    assert err["param"] == "cancellation_reason"
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == (
        "requires_payment_method"
    )


def test_canceled_action_challenge_can_no_longer_complete(
    api: TestClient, runtime: Runtime
) -> None:
    pi = in_requires_action(api)
    path = challenge_path(pi)
    assert api.post(f"/v1/payment_intents/{pi['id']}/cancel").status_code == 200
    r = api.post(path + "/complete", headers={"Accept": "application/json"})
    assert r.status_code == 409, r.text  # the challenge was voided at the gateway
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "canceled"
    assert after["amount_received"] == 0
    assert runtime.simulator is not None
    [charge] = [c for c in runtime.simulator.charges() if c.payment_id == pi["id"]]
    assert charge.voided
    assert charge.captured_amount == 0
    attempts = api.get(f"/v1/payment_intents/{pi['id']}/history").json()["attempts"]
    assert [(a["kind"], a["status"]) for a in attempts] == [
        ("authorize", "failed"),
        ("void", "succeeded"),
    ]


def test_money_fields_are_frozen_while_a_challenge_is_open(
    api: TestClient, runtime: Runtime
) -> None:
    pi = in_requires_action(api)
    path = challenge_path(pi)
    # While the challenge is open at the gateway, the terms cannot change under it.
    for change in ({"payment_method": "pm_card_visa"}, {"amount": "3000"}):
        r = api.post(f"/v1/payment_intents/{pi['id']}", data=change)
        err = error_of(r, 400)
        assert err["code"] == "payment_intent_unexpected_state"
        assert "3D Secure" in err["message"]
    # Metadata is not a money field and may still change.
    ok = api.post(f"/v1/payment_intents/{pi['id']}", data={"metadata[order]": "7"})
    assert ok.status_code == 200
    api.post(path + "/complete", headers={"Accept": "application/json"})
    done = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 2000
    assert runtime.simulator is not None
    captured = sum(
        c.captured_amount for c in runtime.simulator.charges() if c.payment_id == pi["id"]
    )
    assert captured == 2000


# --------------------------------------------------------------------------- illegal transitions


def _assert_unexpected_state(r: Any, pi_id: str, status: str) -> None:
    err = error_of(r, 400)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "payment_intent_unexpected_state"
    assert status in err["message"]
    assert err["payment_intent"]["id"] == pi_id
    assert err["payment_intent"]["status"] == status


def test_confirm_a_succeeded_intent(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa", confirm="true")
    r = api.post(f"/v1/payment_intents/{pi['id']}/confirm", data={"payment_method": "pm_card_visa"})
    _assert_unexpected_state(r, pi["id"], "succeeded")
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["amount_received"] == 2000


def test_confirm_a_canceled_intent(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa")
    assert api.post(f"/v1/payment_intents/{pi['id']}/cancel").status_code == 200
    r = api.post(f"/v1/payment_intents/{pi['id']}/confirm")
    _assert_unexpected_state(r, pi["id"], "canceled")


def test_confirm_a_requires_capture_intent(api: TestClient) -> None:
    pi = authorized(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}/confirm")
    _assert_unexpected_state(r, pi["id"], "requires_capture")


def test_cancel_a_succeeded_intent(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa", confirm="true")
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    _assert_unexpected_state(r, pi["id"], "succeeded")


def test_cancel_a_canceled_intent(api: TestClient) -> None:
    pi = create(api)
    assert api.post(f"/v1/payment_intents/{pi['id']}/cancel").status_code == 200
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    _assert_unexpected_state(r, pi["id"], "canceled")


def test_capture_a_canceled_intent(api: TestClient) -> None:
    pi = authorized(api)
    assert api.post(f"/v1/payment_intents/{pi['id']}/cancel").status_code == 200
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture")
    _assert_unexpected_state(r, pi["id"], "canceled")


def test_operations_on_a_processing_intent_are_refused(api: TestClient, runtime: Runtime) -> None:
    assert runtime.simulator is not None
    runtime.simulator.inject("timeout")
    pi = create(api, payment_method="pm_card_visa", confirm="true")
    assert pi["status"] == "processing"
    for verb in ("cancel", "capture", "confirm"):
        err = error_of(api.post(f"/v1/payment_intents/{pi['id']}/{verb}"), 400)
        assert err["code"] == "payment_intent_unexpected_state", verb
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "processing"


# --------------------------------------------------------------------------- update


def test_update_metadata_merges_and_empty_string_deletes(api: TestClient) -> None:
    pi = create(api, **{"metadata[a]": "1", "metadata[b]": "2"})
    r = api.post(
        f"/v1/payment_intents/{pi['id']}",
        data={"metadata[b]": "", "metadata[c]": "3", "metadata[a]": "one"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"a": "one", "c": "3"}
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["metadata"] == {"a": "one", "c": "3"}


def test_update_metadata_empty_string_clears_all_keys(api: TestClient) -> None:
    pi = create(api, **{"metadata[a]": "1", "metadata[b]": "2"})
    r = api.post(f"/v1/payment_intents/{pi['id']}", data={"metadata": ""})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {}
    r = api.post(f"/v1/payment_intents/{pi['id']}", json={"metadata": {"c": None}})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {}


def test_update_metadata_allowed_after_success(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa", confirm="true", **{"metadata[a]": "1"})
    r = api.post(f"/v1/payment_intents/{pi['id']}", data={"metadata[z]": "26"})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"a": "1", "z": "26"}
    assert r.json()["status"] == "succeeded"


def test_update_amount_and_description_before_confirmation(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_visa")
    r = api.post(
        f"/v1/payment_intents/{pi['id']}", data={"amount": "4500", "description": "bigger"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == 4500
    assert r.json()["description"] == "bigger"
    confirmed = api.post(f"/v1/payment_intents/{pi['id']}/confirm").json()
    assert confirmed["status"] == "succeeded"
    assert confirmed["amount_received"] == 4500


def test_update_amount_is_validated(api: TestClient) -> None:
    pi = create(api)
    err = error_of(api.post(f"/v1/payment_intents/{pi['id']}", data={"amount": "10"}), 400)
    assert err["code"] == "amount_too_small"
    assert err["param"] == "amount"
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["amount"] == 2000


@pytest.mark.parametrize("kind", ["succeeded", "requires_capture", "canceled"])
def test_update_amount_after_confirmation_is_refused(api: TestClient, kind: str) -> None:
    if kind == "succeeded":
        pi = create(api, payment_method="pm_card_visa", confirm="true")
    elif kind == "requires_capture":
        pi = authorized(api)
    else:
        pi = create(api)
        api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    err = error_of(api.post(f"/v1/payment_intents/{pi['id']}", data={"amount": "9999"}), 400)
    assert err["code"] == "payment_intent_unexpected_state"
    assert err["param"] == "amount"
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["amount"] == 2000


def test_update_with_payment_method_moves_to_requires_confirmation(api: TestClient) -> None:
    pi = create(api)
    r = api.post(f"/v1/payment_intents/{pi['id']}", data={"payment_method": "pm_card_amex"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "requires_confirmation"
    pm = api.get(f"/v1/payment_methods/{r.json()['payment_method']}").json()
    assert pm["card"]["brand"] == "amex"


def test_update_unknown_parameter_is_refused(api: TestClient) -> None:
    pi = create(api)
    err = error_of(api.post(f"/v1/payment_intents/{pi['id']}", data={"colour": "red"}), 400)
    assert err["code"] == "parameter_unknown"
    assert err["param"] == "colour"


# --------------------------------------------------------------------------- declines

DECLINES = [
    ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
    ("pm_card_chargeDeclinedLostCard", "card_declined", "lost_card"),
    ("pm_card_chargeDeclinedStolenCard", "card_declined", "stolen_card"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", None),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", None),
    ("pm_card_chargeDeclinedProcessingError", "processing_error", None),
]


@pytest.mark.parametrize(("method", "code", "decline_code"), DECLINES)
def test_decline_is_402_card_error_and_retry_succeeds(
    api: TestClient, method: str, code: str, decline_code: str | None
) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "2000", "currency": "usd", "payment_method": method, "confirm": "true"},
    )
    err = error_of(r, 402)
    assert err["type"] == "card_error"
    assert err["code"] == code
    if decline_code is not None:
        assert err["decline_code"] == decline_code
    if code == "incorrect_cvc":
        assert err["param"] == "cvc"
    pi = err["payment_intent"]
    assert pi["status"] == "requires_payment_method"
    assert pi["amount_received"] == 0
    lpe = pi["last_payment_error"]
    assert lpe["type"] == "card_error"
    assert lpe["code"] == code
    if decline_code is not None:
        assert lpe["decline_code"] == decline_code
    assert lpe["message"] == err["message"]
    assert lpe["payment_method"]["id"] == pi["payment_method"]

    stored = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert stored["status"] == "requires_payment_method"
    assert stored["last_payment_error"] == lpe

    retry = api.post(
        f"/v1/payment_intents/{pi['id']}/confirm", data={"payment_method": "pm_card_visa"}
    )
    assert retry.status_code == 200, retry.text
    ok = retry.json()
    assert ok["status"] == "succeeded"
    assert ok["amount_received"] == 2000
    assert ok["last_payment_error"] is None
    assert ok["payment_method"] != pi["payment_method"]


def test_decline_on_separate_confirm_is_402(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_chargeDeclinedInsufficientFunds")
    err = error_of(api.post(f"/v1/payment_intents/{pi['id']}/confirm"), 402)
    assert err["decline_code"] == "insufficient_funds"
    assert err["payment_intent"]["id"] == pi["id"]


def test_decline_emits_payment_failed(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "2000",
            "currency": "usd",
            "payment_method": "pm_card_chargeDeclined",
            "confirm": "true",
        },
    )
    pi_id = error_of(r, 402)["payment_intent"]["id"]
    events = api.get("/v1/events", params={"type": "payment_intent.payment_failed"}).json()
    [event] = [e for e in events["data"] if e["data"]["object"]["id"] == pi_id]
    assert event["data"]["object"]["status"] == "requires_payment_method"
    assert event["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"


# --------------------------------------------------------------------------- 3DS


def test_three_ds_requires_action_with_simulator_url(api: TestClient) -> None:
    pi = in_requires_action(api)
    assert pi["amount_received"] == 0
    action = pi["next_action"]
    assert action["type"] == "redirect_to_url"
    url = action["redirect_to_url"]["url"]
    assert urlsplit(url).path.startswith("/simulator/3ds/")
    page = api.get(urlsplit(url).path)
    assert page.status_code == 200
    assert "3D Secure" in page.text


def test_three_ds_complete_succeeds(api: TestClient) -> None:
    pi = in_requires_action(api)
    r = api.post(challenge_path(pi) + "/complete", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["succeeded"] is True
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["amount_received"] == 2000
    assert after["next_action"] is None
    causes = [
        c["to"] for c in api.get(f"/v1/payment_intents/{pi['id']}/history").json()["status_changes"]
    ]
    assert causes[-3:] == ["requires_action", "processing", "succeeded"]


def test_three_ds_complete_with_manual_capture_requires_capture(api: TestClient) -> None:
    pi = in_requires_action(api, capture_method="manual")
    r = api.post(challenge_path(pi) + "/complete", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "requires_capture"
    assert after["amount_capturable"] == 2000
    done = api.post(f"/v1/payment_intents/{pi['id']}/capture").json()
    assert done["status"] == "succeeded"
    assert done["amount_received"] == 2000


def test_three_ds_fail_returns_to_requires_payment_method(api: TestClient) -> None:
    pi = in_requires_action(api)
    r = api.post(challenge_path(pi) + "/fail", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "requires_payment_method"
    assert after["next_action"] is None
    assert after["amount_received"] == 0
    assert after["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    retry = api.post(
        f"/v1/payment_intents/{pi['id']}/confirm", data={"payment_method": "pm_card_visa"}
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "succeeded"


def test_three_ds_redirects_to_return_url(api: TestClient) -> None:
    pi = in_requires_action(api, return_url="https://shop.example/return?order=7")
    assert pi["next_action"]["redirect_to_url"]["return_url"] == (
        "https://shop.example/return?order=7"
    )
    r = api.post(challenge_path(pi) + "/complete", follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("https://shop.example/return?order=7&")
    assert "redirect_status=succeeded" in location
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "succeeded"


def test_three_ds_unknown_challenge_is_404(api: TestClient) -> None:
    r = api.post("/simulator/3ds/sim_3ds_nope/complete", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "resource_missing"


def test_three_ds_complete_twice_is_harmless(api: TestClient) -> None:
    pi = in_requires_action(api)
    path = challenge_path(pi) + "/complete"
    assert api.post(path, headers={"Accept": "application/json"}).status_code == 200
    assert api.post(path, headers={"Accept": "application/json"}).status_code == 200
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["amount_received"] == 2000
    # The opposite outcome is refused once the challenge is done.
    r = api.post(challenge_path(pi) + "/fail", headers={"Accept": "application/json"})
    assert r.status_code == 409


# --------------------------------------------------------------------------- history


def test_history_lists_each_change_with_cause(api: TestClient) -> None:
    pi = authorized(api)
    api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "500"})
    r = api.get(f"/v1/payment_intents/{pi['id']}/history")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["payment_intent"] == pi["id"]
    changes = body["status_changes"]
    assert [(c["from"], c["to"]) for c in changes] == [
        (None, "requires_payment_method"),
        ("requires_payment_method", "requires_confirmation"),
        ("requires_confirmation", "processing"),
        ("processing", "requires_capture"),
        ("requires_capture", "succeeded"),
    ]
    for change in changes:
        assert isinstance(change["cause"], str)
        assert change["cause"]
        assert isinstance(change["created"], int)
    assert changes[0]["cause"] == "api.create"
    assert changes[2]["attempt"] is not None
    kinds = [(a["kind"], a["status"]) for a in body["attempts"]]
    assert kinds == [("authorize", "succeeded"), ("capture", "succeeded")]
    assert body["attempts"][1]["amount"] == 500


def test_history_records_decline_and_retry(api: TestClient) -> None:
    pi = create(api, payment_method="pm_card_chargeDeclined")
    api.post(f"/v1/payment_intents/{pi['id']}/confirm")
    api.post(f"/v1/payment_intents/{pi['id']}/confirm", data={"payment_method": "pm_card_visa"})
    body = api.get(f"/v1/payment_intents/{pi['id']}/history").json()
    tos = [c["to"] for c in body["status_changes"]]
    assert tos == [
        "requires_payment_method",
        "requires_confirmation",
        "processing",
        "requires_payment_method",
        "requires_confirmation",
        "processing",
        "succeeded",
    ]
    attempts = body["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "succeeded"]
    assert attempts[0]["decline_code"] == "generic_decline"


def test_history_of_unknown_intent_is_404(api: TestClient) -> None:
    err = error_of(api.get("/v1/payment_intents/pi_nope/history"), 404)
    assert err["code"] == "resource_missing"


# --------------------------------------------------------------------------- money

ZERO_DECIMAL = ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
                "VND", "VUV", "XAF", "XOF", "XPF"]  # fmt: skip


def test_zero_decimal_amount_is_whole_units(api: TestClient) -> None:
    pi = create(api, amount="50", currency="jpy", payment_method="pm_card_visa", confirm="true")
    assert pi["status"] == "succeeded"
    assert pi["amount_received"] == 50
    assert pi["currency"] == "jpy"


def test_every_zero_decimal_currency_accepts_whole_amounts(api: TestClient) -> None:
    for currency in ZERO_DECIMAL:
        pi = create(api, amount="5000", currency=currency.lower())
        assert pi["amount"] == 5000
        assert pi["currency"] == currency.lower()


@pytest.mark.parametrize(
    ("currency", "minimum"),
    [("usd", 50), ("eur", 50), ("gbp", 30), ("jpy", 50), ("hkd", 400), ("mxn", 1000)],
)
def test_minimum_amount_per_currency(api: TestClient, currency: str, minimum: int) -> None:
    ok = api.post("/v1/payment_intents", data={"amount": str(minimum), "currency": currency})
    assert ok.status_code == 200, ok.text
    r = api.post("/v1/payment_intents", data={"amount": str(minimum - 1), "currency": currency})
    err = error_of(r, 400)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "amount_too_small"
    assert err["param"] == "amount"


def test_zero_amount_is_too_small(api: TestClient) -> None:
    err = error_of(api.post("/v1/payment_intents", data={"amount": "0", "currency": "usd"}), 400)
    assert err["code"] == "amount_too_small"
    assert err["param"] == "amount"


def test_amount_above_eight_digits_is_too_large(api: TestClient) -> None:
    ok = api.post("/v1/payment_intents", data={"amount": "99999999", "currency": "usd"})
    assert ok.status_code == 200, ok.text
    r = api.post("/v1/payment_intents", data={"amount": "100000000", "currency": "usd"})
    err = error_of(r, 400)
    assert err["code"] == "amount_too_large"
    assert err["param"] == "amount"


@pytest.mark.parametrize("currency", ["bhd", "jod", "kwd", "omr", "tnd"])
def test_three_decimal_amounts_must_end_in_zero(api: TestClient, currency: str) -> None:
    ok = api.post("/v1/payment_intents", data={"amount": "1230", "currency": currency})
    assert ok.status_code == 200, ok.text
    assert ok.json()["amount"] == 1230
    err = error_of(
        api.post("/v1/payment_intents", data={"amount": "1235", "currency": currency}), 400
    )
    assert err["param"] == "amount"
    assert err["code"] == "invalid_charge_amount"


def test_three_decimal_capture_and_refund_amounts_must_end_in_zero(api: TestClient) -> None:
    pi = create(
        api, amount="5000", currency="kwd", capture_method="manual",
        payment_method="pm_card_visa", confirm="true",
    )  # fmt: skip
    err = error_of(
        api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "2005"}),
        400,
    )
    assert err["param"] == "amount_to_capture"
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "2000"})
    assert r.json()["amount_received"] == 2000
    err = error_of(api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "15"}), 400)
    assert err["param"] == "amount"
    assert (
        api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "10"}).status_code
        == 200
    )


@pytest.mark.parametrize("currency", ["xyz", "US", "usdd", "", "123", "€€€"])
def test_unknown_currency_is_refused(api: TestClient, currency: str) -> None:
    err = error_of(
        api.post("/v1/payment_intents", data={"amount": "1000", "currency": currency}), 400
    )
    assert err["type"] == "invalid_request_error"
    assert err["param"] == "currency"


def test_currency_is_case_insensitive_and_lowercased(api: TestClient) -> None:
    assert create(api, currency="USD")["currency"] == "usd"
    assert create(api, currency="Eur")["currency"] == "eur"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("10.5", "parameter_invalid_integer"),
        ("-1", "parameter_invalid_integer"),
        ("abc", "parameter_invalid_integer"),
        ("1e3", "parameter_invalid_integer"),
        (" 100", "parameter_invalid_integer"),
        ("0x10", "parameter_invalid_integer"),
        ("99999999999999999999999", "parameter_invalid_integer"),
        ("", "parameter_invalid_empty"),
    ],
)
def test_bad_form_amounts(api: TestClient, value: str, code: str) -> None:
    err = error_of(api.post("/v1/payment_intents", data={"amount": value, "currency": "usd"}), 400)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == "amount"
    assert err["code"] == code


@pytest.mark.parametrize("value", [True, False, 10.0, 10.5, "1000", None, [1000], {"v": 1}, 1e3])
def test_json_amount_must_be_an_integer(api: TestClient, value: Any) -> None:
    r = api.post("/v1/payment_intents", json={"amount": value, "currency": "usd"})
    if value == "1000":
        # A numeric string is what form clients send; JSON clients may send it too.
        assert r.status_code == 200, r.text
        assert r.json()["amount"] == 1000
        return
    err = error_of(r, 400)
    assert err["param"] == "amount"


def test_json_bool_is_rejected_where_integer_and_string_expected(api: TestClient) -> None:
    err = error_of(api.post("/v1/payment_intents", json={"amount": 1000, "currency": True}), 400)
    assert err["param"] == "currency"
    err = error_of(
        api.post("/v1/payment_intents", json={"amount": 1000, "currency": "usd", "confirm": 1}),
        400,
    )
    assert err["param"] == "confirm"
    assert err["code"] == "parameter_invalid_boolean"


def test_no_intent_is_created_by_invalid_requests(api: TestClient) -> None:
    for bad in ({"amount": "abc", "currency": "usd"}, {"amount": "100", "currency": "zzz"}):
        assert api.post("/v1/payment_intents", data=bad).status_code == 400
    listed = api.get("/v1/payment_intents").json()
    assert listed["data"] == []
    assert all(e["type"] != "payment_intent.created" for e in api.get("/v1/events").json()["data"])


def test_status_always_a_stripe_status(api: TestClient) -> None:
    create(api)
    create(api, payment_method="pm_card_visa", confirm="true")
    authorized(api)
    in_requires_action(api)
    for pi in api.get("/v1/payment_intents").json()["data"]:
        assert pi["status"] in STRIPE_STATUSES
