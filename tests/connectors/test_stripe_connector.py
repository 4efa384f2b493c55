"""The Stripe connector's wire details and error classification (httpx mock transport)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from connectors.fakes.stripe_fake import StripeFake
from strongbox.connectors.base import (
    AuthorizeRequest,
    CardData,
    Credentials,
    InvalidTokenError,
    OperationKind,
    OperationStatus,
    RetryableError,
    StatusRequest,
    TerminalError,
    TokenDetails,
    TokenRequest,
    UnknownOutcomeError,
    UnsupportedTokenError,
)
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.connectors.stripe import StripeConnector
from strongbox.core.secret import Secret

KEY = "sk_test_abcdefghijklmnop1234"
CREDS = Credentials(secrets={"api_key": Secret(KEY)}, account_id="mca_1")


def request() -> AuthorizeRequest:
    return AuthorizeRequest(
        idempotency_key="strongbox-pa_123",
        amount=2000,
        currency="eur",
        capture=False,
        card=CardData(
            number=Secret("4242424242424242"), exp_month=3, exp_year=2031, cvc=Secret("123")
        ),
        merchant_id="acct_1",
        payment_id="pi_1",
        metadata={"order": "A-1"},
        credentials=CREDS,
    )


def connector(handler: Callable[[httpx.Request], httpx.Response]) -> StripeConnector:
    return StripeConnector("https://stripe.test", transport=httpx.MockTransport(handler))


def test_wire_format_of_an_authorization() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(
            200,
            json={
                "id": "pi_X",
                "status": "requires_capture",
                "amount": 2000,
                "latest_charge": "ch_1",
            },
        )

    result = connector(handler).authorize(request())
    assert (result.status, result.gateway_reference, result.amount) == (
        OperationStatus.AUTHORIZED,
        "pi_X",
        2000,
    )
    [req] = seen
    assert (req.method, req.url.path) == ("POST", "/v1/payment_intents")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.headers["idempotency-key"] == "strongbox-pa_123"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(req.content.decode()))
    assert form["amount"] == "2000"
    assert form["currency"] == "eur"
    assert form["confirm"] == "true"
    assert form["capture_method"] == "manual"
    assert form["payment_method_data[card][number]"] == "4242424242424242"
    assert form["metadata[strongbox_idempotency_key]"] == "strongbox-pa_123"
    assert form["metadata[order]"] == "A-1"


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [
        (429, {}, RetryableError),
        (503, {}, RetryableError),
        (503, {"Stripe-Should-Retry": "false"}, UnknownOutcomeError),
        (500, {}, UnknownOutcomeError),
        (502, {}, UnknownOutcomeError),
        (409, {}, UnknownOutcomeError),
        (401, {}, TerminalError),
        (400, {}, TerminalError),
    ],
)
def test_error_classification_of_posts(
    status: int, headers: dict[str, str], error: type[Exception]
) -> None:
    body = {"error": {"type": "api_error", "message": "boom"}}
    conn = connector(lambda req: httpx.Response(status, json=body, headers=headers))
    with pytest.raises(error) as info:
        conn.authorize(request())
    assert KEY not in str(info.value)
    assert "4242424242424242" not in str(info.value)


def test_transport_failures() -> None:
    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    def hang(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=req)

    with pytest.raises(RetryableError):
        connector(refuse).authorize(request())
    with pytest.raises(UnknownOutcomeError):
        connector(hang).authorize(request())
    # A lookup changes nothing: any failure is safe to retry.
    with pytest.raises(RetryableError):
        connector(hang).get_status(
            StatusRequest(OperationKind.AUTHORIZE, "k", "acct_1", credentials=CREDS)
        )


def test_decline_and_unknown_statuses() -> None:
    declined = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": {"id": "pi_D", "status": "requires_payment_method", "amount": 2000},
        }
    }
    result = connector(lambda req: httpx.Response(402, json=declined)).authorize(request())
    assert (result.status, result.decline_code, result.gateway_reference) == (
        OperationStatus.DECLINED,
        "insufficient_funds",
        "pi_D",
    )
    odd = connector(lambda req: httpx.Response(200, json={"id": "pi_O", "status": "frobnicated"}))
    assert odd.authorize(request()).status is OperationStatus.PENDING  # conservative


def test_missing_credentials_are_a_terminal_error_and_repr_hides_secrets() -> None:
    conn = connector(lambda req: httpx.Response(200, json={}))
    with pytest.raises(TerminalError):
        conn.authorize(dataclasses.replace(request(), credentials=Credentials()))
    assert KEY not in repr(CREDS)
    assert KEY not in repr(request())


# ---------------------------------------------------------------------------- gateway tokens


def token_request(token: str, **changes: Any) -> AuthorizeRequest:
    base = dataclasses.replace(request(), card=None, token=token, return_url="https://shop/r")
    return dataclasses.replace(base, **changes)


def recording(
    seen: list[httpx.Request], status: int = 200, body: dict[str, Any] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(
            status, json=body or {"id": "pi_T", "status": "requires_capture", "amount": 2000}
        )

    return handler


def sent_form(req: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(req.content.decode(), keep_blank_values=True))


def test_authorize_with_a_payment_method_sends_its_id_and_no_card_data() -> None:
    seen: list[httpx.Request] = []
    result = connector(recording(seen)).authorize(token_request("pm_1PqAbc"))
    assert (result.status, result.gateway_reference) == (OperationStatus.AUTHORIZED, "pi_T")
    [req] = seen
    assert (req.method, req.url.path) == ("POST", "/v1/payment_intents")
    assert req.headers["idempotency-key"] == "strongbox-pa_123"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert sent_form(req) == {
        "amount": "2000",
        "currency": "eur",
        "confirm": "true",
        "capture_method": "manual",
        "payment_method_types[]": "card",
        "payment_method": "pm_1PqAbc",
        "metadata[strongbox_idempotency_key]": "strongbox-pa_123",
        "metadata[strongbox_payment_id]": "pi_1",
        "metadata[order]": "A-1",
        "return_url": "https://shop/r",
    }


def test_authorize_with_a_legacy_token_sends_it_as_payment_method_data() -> None:
    seen: list[httpx.Request] = []
    connector(recording(seen)).authorize(token_request("tok_1PqAbc", capture=True))
    form = sent_form(seen[0])
    assert form["payment_method_data[type]"] == "card"
    assert form["payment_method_data[card][token]"] == "tok_1PqAbc"
    assert form["capture_method"] == "automatic"
    assert form["metadata[strongbox_idempotency_key]"] == "strongbox-pa_123"
    assert "payment_method" not in form
    card_fields = {k for k in form if k.startswith("payment_method_data[card]")}
    assert card_fields == {"payment_method_data[card][token]"}  # no number, expiry or CVC


@pytest.mark.parametrize(
    "token", ["src_1PqAbc", "nonce-from-braintree", "pm_", "pm_a/../b", "tok_x?y=1", "PM_1", ""]
)
def test_a_token_stripe_does_not_make_is_invalid_and_nothing_is_sent(token: str) -> None:
    seen: list[httpx.Request] = []
    conn = connector(recording(seen))
    with pytest.raises(InvalidTokenError):
        conn.authorize(token_request(token))
    with pytest.raises(InvalidTokenError):
        conn.describe_token(TokenRequest(token=token, merchant_id="acct_1", credentials=CREDS))
    assert seen == []


PM_REUSED = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was detached "
    "from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must "
    "attach it to a Customer first."
)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (
            "pm_gone",
            {
                "code": "resource_missing",
                "param": "payment_method",
                "message": "No such PaymentMethod: 'pm_gone'",
            },
        ),
        (
            "tok_gone",
            {
                "code": "resource_missing",
                "param": "payment_method_data[card][token]",
                "message": "No such token: 'tok_gone'",
            },
        ),
        (
            "tok_used",
            {
                "code": "token_already_used",
                "message": "You cannot use a Stripe token more than once: tok_used.",
            },
        ),
        (
            "pm_used",
            {
                "code": "payment_method_unexpected_state",
                "param": "payment_method",
                "message": PM_REUSED,
            },
        ),
        ("pm_used", {"param": "payment_method", "message": PM_REUSED}),  # without a code
    ],
)
def test_stripes_answers_for_unusable_tokens_are_invalid_token_errors(
    token: str, error: dict[str, str]
) -> None:
    body = {"error": {"type": "invalid_request_error", **error}}
    conn = connector(lambda req: httpx.Response(400, json=body))
    with pytest.raises(InvalidTokenError) as info:
        conn.authorize(token_request(token))
    assert isinstance(info.value, TerminalError)
    assert info.value.gateway_code == error.get("code", "payment_method_unexpected_state")
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (400, {"code": "resource_missing", "param": "customer"}, TerminalError),
        (400, {"code": "parameter_invalid", "param": "amount"}, TerminalError),
        (401, {"message": "Invalid API Key provided."}, TerminalError),
        (404, {"code": "resource_missing"}, TerminalError),
        (503, {"type": "api_error"}, RetryableError),
        (500, {"type": "api_error"}, UnknownOutcomeError),
    ],
)
def test_other_errors_on_a_token_authorization_keep_their_class(
    status: int, error: dict[str, str], expected: type[Exception]
) -> None:
    body = {"error": {"type": "invalid_request_error", **error}}
    conn = connector(lambda req: httpx.Response(status, json=body))
    with pytest.raises(expected) as info:
        conn.authorize(token_request("pm_1PqAbc"))
    assert not isinstance(info.value, InvalidTokenError)


def test_a_card_data_authorization_never_reports_an_invalid_token() -> None:
    body = {"error": {"type": "invalid_request_error", "code": "token_already_used"}}
    with pytest.raises(TerminalError) as info:
        connector(lambda req: httpx.Response(400, json=body)).authorize(request())
    assert not isinstance(info.value, InvalidTokenError)


def test_a_decline_on_a_token_is_a_declined_result_with_stripes_code() -> None:
    declined = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": {"id": "pi_D", "status": "requires_payment_method", "amount": 2000},
        }
    }
    for token in ("pm_1PqAbc", "tok_1PqAbc"):
        result = connector(lambda req: httpx.Response(402, json=declined)).authorize(
            token_request(token)
        )
        assert (result.status, result.decline_code, result.gateway_reference) == (
            OperationStatus.DECLINED,
            "insufficient_funds",
            "pi_D",
        )


def payment_method_body(customer: Any = None, **card: Any) -> dict[str, Any]:
    return {
        "id": "pm_1PqAbc",
        "object": "payment_method",
        "billing_details": {"name": None},
        "card": {
            "brand": "visa",
            "checks": {"cvc_check": "unchecked"},
            "country": "US",
            "exp_month": 8,
            "exp_year": 2031,
            "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "debit",
            "last4": "4242",
            **card,
        },
        "created": 1700000000,
        "customer": customer,
        "livemode": False,
        "type": "card",
    }


def describe(
    handler: Callable[[httpx.Request], httpx.Response], stripe_id: str = "pm_1PqAbc"
) -> TokenDetails:
    return connector(handler).describe_token(
        TokenRequest(token=stripe_id, merchant_id="acct_1", credentials=CREDS)
    )


def test_describe_a_payment_method() -> None:
    seen: list[httpx.Request] = []
    details = describe(recording(seen, body=payment_method_body()))
    [req] = seen
    assert (req.method, req.url.path, req.content) == ("GET", "/v1/payment_methods/pm_1PqAbc", b"")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert "idempotency-key" not in req.headers
    assert details == TokenDetails(
        brand="visa",
        last4="4242",
        exp_month=8,
        exp_year=2031,
        funding="debit",
        country="US",
        fingerprint="Xt5EWLLDS7FJjR1c",
        reusable=False,  # no customer holds it: Stripe lets it pay once
    )


def test_a_payment_method_a_customer_holds_is_reusable() -> None:
    for customer in ("cus_1", {"id": "cus_1", "object": "customer"}):
        body = payment_method_body(customer=customer)
        details = describe(lambda req, body=body: httpx.Response(200, json=body))
        assert details.reusable is True
        assert details.token == f"{body['id']}|cus_1"
    body = payment_method_body(customer="cus_1' OR 1=1")
    with pytest.raises(TerminalError) as info:  # a gateway anomaly, not the caller's token
        describe(lambda req: httpx.Response(200, json=body))
    assert info.value.gateway_code == "unexpected_customer"
    assert not isinstance(info.value, UnsupportedTokenError)


def test_describe_maps_odd_card_fields_conservatively() -> None:
    body = payment_method_body(brand="eftpos_au", funding="charge", country=None, fingerprint="")
    details = describe(lambda req: httpx.Response(200, json=body))
    assert (details.brand, details.funding, details.country, details.fingerprint) == (
        "unknown",
        "unknown",
        None,
        None,
    )


def test_describe_a_payment_method_that_is_not_a_card_is_unsupported() -> None:
    body = {"id": "pm_1PqAbc", "object": "payment_method", "type": "sepa_debit", "customer": None}
    with pytest.raises(UnsupportedTokenError):
        describe(lambda req: httpx.Response(200, json=body))


def token_body(brand: str, used: bool = False) -> dict[str, Any]:
    return {
        "id": "tok_1PqAbc",
        "object": "token",
        "card": {
            "id": "card_1PqAbc",
            "object": "card",
            "brand": brand,
            "country": "GB",
            "cvc_check": "unchecked",
            "exp_month": 1,
            "exp_year": 2030,
            "fingerprint": "Ab12Cd34Ef56Gh78",
            "funding": "credit",
            "last4": "0005",
        },
        "client_ip": None,
        "created": 1700000000,
        "livemode": False,
        "type": "card",
        "used": used,
    }


@pytest.mark.parametrize(
    ("legacy", "word"),
    [
        ("Visa", "visa"),
        ("MasterCard", "mastercard"),
        ("American Express", "amex"),
        ("Discover", "discover"),
        ("JCB", "jcb"),
        ("Diners Club", "diners"),
        ("UnionPay", "unionpay"),
        ("Unknown", "unknown"),
        ("Cartes Bancaires", "unknown"),
    ],
)
def test_describe_a_legacy_token_maps_its_brand_name(legacy: str, word: str) -> None:
    seen: list[httpx.Request] = []
    details = describe(recording(seen, body=token_body(legacy)), stripe_id="tok_1PqAbc")
    assert (seen[0].method, seen[0].url.path) == ("GET", "/v1/tokens/tok_1PqAbc")
    assert details == TokenDetails(
        brand=word,
        last4="0005",
        exp_month=1,
        exp_year=2030,
        funding="credit",
        country="GB",
        fingerprint="Ab12Cd34Ef56Gh78",
        reusable=False,  # a Token is single use
    )


def test_describe_a_used_legacy_token_is_invalid() -> None:
    body = token_body("Visa", used=True)
    with pytest.raises(InvalidTokenError) as info:
        describe(lambda req: httpx.Response(200, json=body), stripe_id="tok_1PqAbc")
    assert info.value.gateway_code == "token_already_used"


@pytest.mark.parametrize("token", ["pm_1PqAbc", "tok_1PqAbc"])
def test_describe_an_unknown_token_is_invalid(token: str) -> None:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such token: '{token}'",
        }
    }
    with pytest.raises(InvalidTokenError) as info:
        describe(lambda req: httpx.Response(404, json=body), stripe_id=token)
    assert info.value.gateway_code == "resource_missing"


def test_describe_failures_follow_the_lookup_taxonomy() -> None:
    def hang(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=req)

    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    error = {"error": {"type": "api_error", "message": "boom"}}
    for handler in (
        hang,
        refuse,
        lambda req: httpx.Response(500, json=error),
        lambda req: httpx.Response(502, text="bad gateway"),
        lambda req: httpx.Response(503, json=error),
        lambda req: httpx.Response(429, json=error),
        lambda req: httpx.Response(200, json={"id": "pm_1PqAbc", "type": "card", "card": {}}),
        lambda req: httpx.Response(200, json={"id": "pm_1PqAbc", "type": "card", "card": {"x": 1}}),
    ):
        with pytest.raises(RetryableError):
            describe(handler)
    with pytest.raises(TerminalError) as info:
        describe(lambda req: httpx.Response(401, json=error))
    assert not isinstance(info.value, InvalidTokenError)
    assert KEY not in str(info.value)


# ---------------------------------------------------------------------------- against the fake

FAKE_KEY = "sk_test_tokens"
FAKE_PK = "pk_test_tokens"
FAKE_CREDS = Credentials(secrets={"api_key": Secret(FAKE_KEY)})


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[StripeFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = StripeFake(engine)
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def stripe(
    fake_server: tuple[StripeFake, BackgroundServer],
) -> Iterator[tuple[StripeFake, StripeConnector, httpx.Client]]:
    fake, server = fake_server
    fake.engine.reset()
    fake.reset()
    conn = StripeConnector(server.url, connect_timeout=2.0, read_timeout=2.0)
    browser = httpx.Client(base_url=server.url, timeout=60.0, trust_env=False)
    yield fake, conn, browser
    conn.close()
    browser.close()


Stripe = tuple[StripeFake, StripeConnector, httpx.Client]


def fake_token_request(token: str, key: str = "idk_1") -> AuthorizeRequest:
    return AuthorizeRequest(
        idempotency_key=key,
        amount=1500,
        currency="usd",
        capture=True,
        token=token,
        merchant_id="acct_tokens",
        payment_id=f"pay_{key}",
        credentials=FAKE_CREDS,
    )


def tokenize(browser: httpx.Client, path: str, number: str, **extra: str) -> httpx.Response:
    form = {
        "card[number]": number,
        "card[exp_month]": "12",
        "card[exp_year]": "2039",
        "card[cvc]": "314",
        "key": FAKE_PK,
        **extra,
    }
    return browser.post(path, data=form)


def test_fake_tokenizes_like_stripe_js_and_never_echoes_the_cvc(stripe: Stripe) -> None:
    _, _, browser = stripe
    made = tokenize(browser, "/v1/payment_methods", "4242424242424242", type="card")
    assert made.status_code == 200, made.text
    body = made.json()
    assert (body["object"], body["type"], body["customer"], body["livemode"]) == (
        "payment_method",
        "card",
        None,
        False,
    )
    assert body["card"]["brand"] == "visa"
    assert body["card"]["last4"] == "4242"
    assert body["card"]["checks"]["cvc_check"] == "unchecked"
    assert "314" not in made.text
    assert "4242424242424242" not in made.text
    legacy = tokenize(browser, "/v1/tokens", "378282246310005")
    assert legacy.json()["card"]["brand"] == "American Express"
    assert legacy.json()["used"] is False
    assert "314" not in legacy.text
    # A publishable key tokenizes, but only a secret key reads a PaymentMethod back.
    read = browser.get(
        f"/v1/payment_methods/{body['id']}", headers={"Authorization": f"Bearer {FAKE_PK}"}
    )
    assert read.status_code == 401
    bad = tokenize(browser, "/v1/payment_methods", "4242424242424241", type="card")
    assert bad.status_code == 402
    assert bad.json()["error"]["code"] == "incorrect_number"
    assert tokenize(browser, "/v1/payment_methods", "4242424242424242").status_code == 400


def test_a_payment_method_pays_once_without_card_data_then_is_refused(stripe: Stripe) -> None:
    fake, conn, browser = stripe
    pm = tokenize(browser, "/v1/payment_methods", "4242424242424242", type="card").json()["id"]
    details = conn.describe_token(TokenRequest(pm, "acct_tokens", credentials=FAKE_CREDS))
    assert (details.brand, details.last4, details.reusable) == ("visa", "4242", False)
    first = conn.authorize(fake_token_request(pm, "idk_a"))
    assert first.status is OperationStatus.CAPTURED
    assert first.gateway_reference is not None
    assert fake.intent_sources[first.gateway_reference] == pm
    form = fake.intent_forms[first.gateway_reference]
    assert form["payment_method"] == pm
    assert not any(k.startswith("payment_method_data") for k in form)
    # An idempotent replay answers as the first time, although the PaymentMethod is spent.
    again = conn.authorize(fake_token_request(pm, "idk_a"))
    assert again.gateway_reference == first.gateway_reference
    with pytest.raises(InvalidTokenError) as info:
        conn.authorize(fake_token_request(pm, "idk_b"))
    assert info.value.gateway_code == "payment_method_unexpected_state"
    assert fake.engine.operation("idk_b") is None


def test_a_payment_method_a_customer_holds_pays_again(stripe: Stripe) -> None:
    fake, conn, _ = stripe
    pm = fake.create_payment_method("5555555555554444", api_key=FAKE_PK)
    fake.attach_payment_method(pm)
    details = conn.describe_token(TokenRequest(pm, "acct_tokens", credentials=FAKE_CREDS))
    assert (details.brand, details.reusable) == ("mastercard", True)
    assert details.token == f"{pm}|cus_test"  # stored: Stripe needs the customer named
    assert details.token not in repr(details)
    for key in ("idk_c1", "idk_c2"):
        result = conn.authorize(fake_token_request(details.token, key))
        assert result.status is OperationStatus.CAPTURED
        assert result.gateway_reference is not None
        form = fake.intent_forms[result.gateway_reference]
        assert (form["payment_method"], form["customer"]) == (pm, "cus_test")
    # Without its customer, Stripe refuses a held PaymentMethod (a terminal error).
    with pytest.raises(TerminalError):
        conn.authorize(fake_token_request(pm, "idk_c3"))


def test_a_legacy_token_is_single_use(stripe: Stripe) -> None:
    fake, conn, _ = stripe
    tok = fake.create_token("4000056655665556", api_key=FAKE_KEY)  # a Visa debit card
    details = conn.describe_token(TokenRequest(tok, "acct_tokens", credentials=FAKE_CREDS))
    assert (details.brand, details.funding, details.reusable) == ("visa", "debit", False)
    result = conn.authorize(fake_token_request(tok, "idk_t1"))
    assert result.status is OperationStatus.CAPTURED
    assert result.gateway_reference is not None
    assert fake.intent_sources[result.gateway_reference] == tok
    assert fake.last_intent_form is not None
    assert fake.last_intent_form["payment_method_data[card][token]"] == tok
    assert "payment_method_data[card][number]" not in fake.last_intent_form
    with pytest.raises(InvalidTokenError) as info:
        conn.authorize(fake_token_request(tok, "idk_t2"))
    assert info.value.gateway_code == "token_already_used"
    with pytest.raises(InvalidTokenError):
        conn.describe_token(TokenRequest(tok, "acct_tokens", credentials=FAKE_CREDS))


def test_a_token_of_another_account_is_unknown(stripe: Stripe) -> None:
    fake, conn, _ = stripe
    pm = fake.create_payment_method("4242424242424242", api_key="pk_test_someoneelse")
    with pytest.raises(InvalidTokenError) as info:
        conn.authorize(fake_token_request(pm))
    assert info.value.gateway_code == "resource_missing"
    with pytest.raises(InvalidTokenError):
        conn.describe_token(TokenRequest(pm, "acct_tokens", credentials=FAKE_CREDS))
    assert fake.engine.operation("idk_1") is None


def test_a_token_keeps_the_test_cards_behaviour(stripe: Stripe) -> None:
    fake, conn, _ = stripe
    challenge = conn.authorize(
        fake_token_request(fake.create_payment_method("4000002760003184"), "idk_3ds")
    )
    assert challenge.status is OperationStatus.REQUIRES_ACTION
    assert challenge.next_action is not None
    declined = conn.authorize(
        fake_token_request(fake.create_token("4000000000000002"), "idk_declined")
    )
    assert (declined.status, declined.decline_code) == (
        OperationStatus.DECLINED,
        "generic_decline",
    )
