"""Tokenization over HTTP: POST /v1/payment_methods with card data, and paying with it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from strongbox.payments.models import PaymentMethod
from strongbox.runtime import Runtime
from strongbox.vault.models import VaultCard, VaultCvc
from support import Merchant, error_of

FUTURE = {"card[exp_month]": "12", "card[exp_year]": "2034"}


def card(number: str, cvc: str | None = "123", **extra: str) -> dict[str, str]:
    body = {"type": "card", "card[number]": number, **FUTURE, **extra}
    if cvc is not None:
        body["card[cvc]"] = cvc
    return body


def tokenize(api: TestClient, number: str, **kw: Any) -> dict[str, Any]:
    r = api.post("/v1/payment_methods", data=card(number, **kw))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def counts(rt: Runtime) -> tuple[int, int, int]:
    with rt.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(PaymentMethod)) or 0,
            s.scalar(select(func.count()).select_from(VaultCard)) or 0,
            s.scalar(select(func.count()).select_from(VaultCvc)) or 0,
        )


@pytest.mark.parametrize(
    ("number", "brand", "display", "funding", "country"),
    [
        ("4242424242424242", "visa", "visa", "credit", "US"),
        ("4000056655665556", "visa", "visa", "debit", "US"),
        ("5555555555554444", "mastercard", "mastercard", "credit", "US"),
        ("2223003122003222", "mastercard", "mastercard", "credit", "US"),
        ("5200828282828210", "mastercard", "mastercard", "debit", "US"),
        ("378282246310005", "amex", "american_express", "credit", "US"),
        ("6011111111111117", "discover", "discover", "credit", "US"),
        ("3056930009020004", "diners", "diners_club", "credit", "US"),
        ("3566002020360505", "jcb", "jcb", "credit", "JP"),
        ("6200000000000005", "unionpay", "union_pay", "credit", "CN"),
        ("4000002760003184", "visa", "visa", "credit", "DE"),
        ("6759649826438453", "mastercard", "mastercard", "unknown", None),
    ],
)
def test_card_becomes_a_payment_method_with_stripe_shape(
    api: TestClient, number: str, brand: str, display: str, funding: str, country: str | None
) -> None:
    cvc = "1234" if brand == "amex" else "123"
    pm = tokenize(api, number, cvc=cvc)
    assert pm["id"].startswith("pm_")
    assert pm["object"] == "payment_method"
    assert pm["type"] == "card"
    c = pm["card"]
    assert c["brand"] == brand
    assert c["display_brand"] == display
    assert c["last4"] == number[-4:]
    assert (c["exp_month"], c["exp_year"]) == (12, 2034)
    assert c["funding"] == funding
    assert c["country"] == country
    assert c["checks"]["cvc_check"] == "unchecked"
    assert len(c["fingerprint"]) == 16
    assert number not in str(pm)
    # Retrieving renders the same object.
    assert api.get(f"/v1/payment_methods/{pm['id']}").json() == pm


def test_json_body_and_two_digit_year(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_methods",
        json={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 7, "exp_year": 31},
        },
    )
    assert r.status_code == 200, r.text
    c = r.json()["card"]
    assert (c["exp_month"], c["exp_year"]) == (7, 2031)
    assert c["checks"]["cvc_check"] is None


def test_fingerprint_is_stable_within_a_merchant_and_differs_across(
    runtime: Runtime, api: TestClient, client: TestClient, new_merchant: Any
) -> None:
    a = tokenize(api, "4242424242424242")["card"]["fingerprint"]
    b = tokenize(api, "4242424242424242", cvc="999")["card"]["fingerprint"]
    other = tokenize(api, "5555555555554444")["card"]["fingerprint"]
    assert a == b
    assert other != a
    m2: Merchant = new_merchant()
    r = client.post("/v1/payment_methods", data=card("4242424242424242"), headers=m2.headers)
    assert r.status_code == 200
    assert r.json()["card"]["fingerprint"] != a


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (card("4242424242424241"), 402, "incorrect_number", "card[number]"),
        (card("424242424242424"), 402, "incorrect_number", "card[number]"),
        (card("37828224631000"), 402, "incorrect_number", "card[number]"),
        (card("4242-4242-4242-4242"), 402, "invalid_number", "card[number]"),
        (
            card("4242424242424242", **{"card[exp_month]": "13"}),
            402,
            "invalid_expiry_month",
            "card[exp_month]",
        ),
        (
            card("4242424242424242", **{"card[exp_month]": "0"}),
            402,
            "invalid_expiry_month",
            "card[exp_month]",
        ),
        (
            card("4242424242424242", **{"card[exp_year]": "2001"}),
            402,
            "invalid_expiry_year",
            "card[exp_year]",
        ),
        (
            card("4242424242424242", **{"card[exp_year]": "2199"}),
            402,
            "invalid_expiry_year",
            "card[exp_year]",
        ),
        (card("4242424242424242", cvc="12"), 402, "invalid_cvc", "card[cvc]"),
        (card("4242424242424242", cvc="1234"), 402, "invalid_cvc", "card[cvc]"),
        (card("378282246310005", cvc="123"), 402, "invalid_cvc", "card[cvc]"),
        (card("4242424242424242", cvc="12a"), 402, "invalid_cvc", "card[cvc]"),
        ({"type": "card", **FUTURE}, 400, "parameter_missing", "card[number]"),
        (
            {"type": "card", "card[number]": "4242424242424242"},
            400,
            "parameter_missing",
            "card[exp_month]",
        ),
        ({"card[number]": "4242424242424242", **FUTURE}, 400, "parameter_missing", "type"),
        ({"type": "card"}, 400, "parameter_missing", "card"),
        ({**card("4242424242424242"), "type": "sepa_debit"}, 400, "parameter_invalid", "type"),
        (
            {**card("4242424242424242"), "card[colour]": "red"},
            400,
            "parameter_unknown",
            "card[colour]",
        ),
        (
            card("4242424242424242", **{"card[exp_month]": "x"}),
            400,
            "parameter_invalid_integer",
            "card[exp_month]",
        ),
    ],
)
def test_invalid_cards_are_rejected_and_nothing_is_stored(
    runtime: Runtime, api: TestClient, body: dict[str, str], status: int, code: str, param: str
) -> None:
    r = api.post("/v1/payment_methods", data=body)
    assert r.status_code == status, r.text
    err = error_of(r)
    assert err["code"] == code
    assert err["param"] == param
    assert err["type"] == ("card_error" if status == 402 else "invalid_request_error")
    assert "4242424242424242" not in r.text
    assert counts(runtime) == (0, 0, 0)


def test_expired_this_year_is_an_expiry_month_error(api: TestClient, runtime: Runtime) -> None:
    now = runtime.db.clock.now()
    if now.month == 1:
        pytest.skip("no earlier month in January")
    r = api.post(
        "/v1/payment_methods",
        data=card(
            "4242424242424242",
            **{"card[exp_month]": str(now.month - 1), "card[exp_year]": str(now.year)},
        ),
    )
    assert r.status_code == 402
    assert error_of(r)["code"] == "invalid_expiry_month"


def test_publishable_key_can_create_payment_methods_and_nothing_else(
    runtime: Runtime, client: TestClient, merchant: Merchant
) -> None:
    pk = {"Authorization": f"Bearer {merchant.publishable_key}"}
    r = client.post("/v1/payment_methods", data=card("4242424242424242"), headers=pk)
    assert r.status_code == 200, r.text
    pm_id = r.json()["id"]
    for method, path in [
        ("GET", f"/v1/payment_methods/{pm_id}"),
        ("GET", "/v1/payment_methods"),
        ("POST", f"/v1/payment_methods/{pm_id}/attach"),
        ("GET", "/v1/customers"),
        ("POST", "/v1/payment_intents"),
    ]:
        resp = client.request(method, path, headers=pk)
        assert resp.status_code == 403, (method, path, resp.text)
    # The secret key sees it.
    assert client.get(f"/v1/payment_methods/{pm_id}", headers=merchant.headers).status_code == 200


def test_other_merchants_cannot_see_or_use_the_payment_method(
    api: TestClient, client: TestClient, new_merchant: Any
) -> None:
    pm = tokenize(api, "4242424242424242")
    m2: Merchant = new_merchant()
    assert client.get(f"/v1/payment_methods/{pm['id']}", headers=m2.headers).status_code == 404
    r = client.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "usd", "payment_method": pm["id"], "confirm": "true"},
        headers=m2.headers,
    )
    assert r.status_code == 404


def test_idempotent_replay_returns_the_same_payment_method(
    runtime: Runtime, api: TestClient
) -> None:
    headers = {"Idempotency-Key": "tok-1"}
    a = api.post("/v1/payment_methods", data=card("4242424242424242"), headers=headers)
    b = api.post("/v1/payment_methods", data=card("4242424242424242"), headers=headers)
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] == b.json()["id"]
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert counts(runtime)[0] == 1
    c = api.post("/v1/payment_methods", data=card("5555555555554444"), headers=headers)
    assert c.status_code == 400
    assert error_of(c)["type"] == "idempotency_error"


def confirm(api: TestClient, pm_id: str, **extra: str) -> Any:
    return api.post(
        "/v1/payment_intents",
        data={
            "amount": "2000",
            "currency": "usd",
            "payment_method": pm_id,
            "confirm": "true",
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("number", "status", "code", "decline_code"),
    [
        ("4242424242424242", "succeeded", None, None),
        ("5555555555554444", "succeeded", None, None),
        ("4000000000000002", "requires_payment_method", "card_declined", "generic_decline"),
        ("4000000000009995", "requires_payment_method", "card_declined", "insufficient_funds"),
        ("4000002760003184", "requires_action", None, None),
    ],
)
def test_confirming_with_a_vaulted_card_reaches_the_simulator(
    api: TestClient, number: str, status: str, code: str | None, decline_code: str | None
) -> None:
    pm = tokenize(api, number)
    r = confirm(api, pm["id"])
    if code is None:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    else:
        assert r.status_code == 402, r.text
        err = error_of(r)
        assert err["code"] == code
        assert err["decline_code"] == decline_code
        assert err["payment_intent"]["status"] == status


def test_cvc_check_passes_after_a_successful_authorization(api: TestClient) -> None:
    pm = tokenize(api, "4242424242424242")
    assert confirm(api, pm["id"]).json()["status"] == "succeeded"
    assert (
        api.get(f"/v1/payment_methods/{pm['id']}").json()["card"]["checks"]["cvc_check"] == "pass"
    )
    # The card stays usable without its CVC (merchant-initiated reuse).
    r = confirm(api, pm["id"])
    assert r.status_code == 200
    assert r.json()["status"] == "succeeded"


def test_incorrect_cvc_decline_marks_the_check_failed(api: TestClient) -> None:
    pm = tokenize(api, "4000000000000127")
    r = confirm(api, pm["id"])
    assert r.status_code == 402
    assert error_of(r)["code"] == "incorrect_cvc"
    assert (
        api.get(f"/v1/payment_methods/{pm['id']}").json()["card"]["checks"]["cvc_check"] == "fail"
    )


def test_vaulted_card_attaches_to_a_customer(api: TestClient) -> None:
    pm = tokenize(api, "4242424242424242")
    cus = api.post("/v1/customers", data={"email": "c@example.com"}).json()["id"]
    r = api.post(f"/v1/payment_methods/{pm['id']}/attach", data={"customer": cus})
    assert r.status_code == 200
    assert r.json()["customer"] == cus
    listed = api.get("/v1/payment_methods", params={"customer": cus}).json()["data"]
    assert [p["id"] for p in listed] == [pm["id"]]
