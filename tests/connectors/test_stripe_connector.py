"""The Stripe connector's wire details and error classification (httpx mock transport)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx
import pytest

from strongbox.connectors.base import (
    AuthorizeRequest,
    CardData,
    Credentials,
    OperationKind,
    OperationStatus,
    RetryableError,
    StatusRequest,
    TerminalError,
    UnknownOutcomeError,
)
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
    import dataclasses

    with pytest.raises(TerminalError):
        conn.authorize(dataclasses.replace(request(), credentials=Credentials()))
    assert KEY not in repr(CREDS)
    assert KEY not in repr(request())
