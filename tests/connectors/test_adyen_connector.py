"""The Adyen connector's wire details and error classification: an httpx mock transport with
Adyen's documented response bodies, and the local fake for the idempotency behaviour (704)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from connectors.fakes.adyen_fake import AdyenFake
from strongbox.connectors.adyen import AdyenConnector
from strongbox.connectors.adyen.connector import REFUSAL_CODES, decline_code_for
from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    CardData,
    Credentials,
    OperationKind,
    OperationStatus,
    RefundRequest,
    RetryableError,
    StatusRequest,
    TerminalError,
    UnknownOutcomeError,
    VoidRequest,
)
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.secret import Secret

KEY = "AQE_test_wire_key_0001"  # pragma: allowlist secret
CREDS = Credentials(
    secrets={"api_key": Secret(KEY)},
    settings={"merchant_account": "StrongboxECOM"},
    account_id="mca_1",
)
PSP = "QFQTPCQ8HXSKGK82"


def request(**changes: Any) -> AuthorizeRequest:
    base: dict[str, Any] = {
        "idempotency_key": "strongbox-pa_123",
        "amount": 2000,
        "currency": "eur",
        "capture": False,
        "card": CardData(
            number=Secret("4242424242424242"),
            exp_month=3,
            exp_year=2031,
            cvc=Secret("123"),
            holder_name="Ada Lovelace",
        ),
        "merchant_id": "acct_1",
        "payment_id": "pi_1",
        "return_url": "https://shop.example/return",
        "metadata": {"order": "A-1"},
        "credentials": CREDS,
    }
    return AuthorizeRequest(**(base | changes))


def connector(handler: Callable[[httpx.Request], httpx.Response]) -> AdyenConnector:
    return AdyenConnector("https://adyen.test/v71", transport=httpx.MockTransport(handler))


def answer(status: int, body: dict[str, Any], **headers: str) -> Callable[..., httpx.Response]:
    return lambda req: httpx.Response(status, json=body, headers=headers)


def authorised(req: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "pspReference": PSP,
            "resultCode": "Authorised",
            "merchantReference": "strongbox-pa_123",
            "amount": {"currency": "EUR", "value": 2000},
        },
    )


def test_wire_format_of_an_authorization() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return authorised(req)

    result = connector(handler).authorize(request())
    assert (result.status, result.gateway_reference, result.amount) == (
        OperationStatus.AUTHORIZED,
        PSP,
        2000,
    )
    [req] = seen
    assert (req.method, str(req.url)) == ("POST", "https://adyen.test/v71/payments")
    assert req.headers["x-api-key"] == KEY
    assert "authorization" not in req.headers
    assert req.headers["idempotency-key"] == "strongbox-pa_123"
    assert req.headers["content-type"] == "application/json"
    body = json.loads(req.content)
    assert body["amount"] == {"value": 2000, "currency": "EUR"}
    assert body["reference"] == "strongbox-pa_123"
    assert body["merchantOrderReference"] == "pi_1"
    assert body["merchantAccount"] == "StrongboxECOM"
    assert body["shopperInteraction"] == "Ecommerce"
    assert body["returnUrl"] == "https://shop.example/return"
    assert body["additionalData"] == {"manualCapture": "true"}
    assert "captureDelayHours" not in body
    assert body["paymentMethod"] == {
        "type": "scheme",
        "number": "4242424242424242",
        "expiryMonth": "03",
        "expiryYear": "2031",
        "cvc": "123",
        "holderName": "Ada Lovelace",
    }
    assert body["metadata"] == {"order": "A-1"}


def test_automatic_capture_asks_for_immediate_capture() -> None:
    seen: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(json.loads(req.content))
        return authorised(req)

    result = connector(handler).authorize(request(capture=True))
    assert result.status is OperationStatus.CAPTURED
    assert seen[0]["captureDelayHours"] == 0
    assert "additionalData" not in seen[0]


@pytest.mark.parametrize(
    ("path", "call"),
    [
        (
            "captures",
            lambda c: c.capture(
                CaptureRequest("strongbox-pa_cap", PSP, 1500, "eur", "acct_1", credentials=CREDS)
            ),
        ),
        ("cancels", lambda c: c.void(VoidRequest("strongbox-pa_cap", PSP, "acct_1", CREDS))),
        (
            "refunds",
            lambda c: c.refund(
                RefundRequest(
                    "strongbox-pa_cap",
                    PSP,
                    1500,
                    "eur",
                    "acct_1",
                    reason="requested_by_customer",
                    credentials=CREDS,
                )
            ),
        ),
    ],
)
def test_modifications_are_received_and_pending(path: str, call: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(
            201,
            json={
                "merchantAccount": "StrongboxECOM",
                "paymentPspReference": PSP,
                "pspReference": "JDD6LKT8MBLZNN84",
                "reference": "strongbox-pa_cap",
                "status": "received",
            },
        )

    result = call(connector(handler))
    assert result.status is OperationStatus.PENDING  # the outcome comes by webhook
    assert result.gateway_reference == PSP
    assert result.raw_status == "received"
    assert result.details["modification"] == "JDD6LKT8MBLZNN84"
    [req] = seen
    assert req.url.path == f"/v71/payments/{PSP}/{path}"
    assert req.headers["idempotency-key"] == "strongbox-pa_cap"
    body = json.loads(req.content)
    assert body["merchantAccount"] == "StrongboxECOM"
    assert body["reference"] == "strongbox-pa_cap"
    if path != "cancels":
        assert body["amount"] == {"value": 1500, "currency": "EUR"}
    if path == "refunds":
        assert body["merchantRefundReason"] == "CUSTOMER REQUEST"


def test_live_url_prefix_selects_the_live_endpoint() -> None:
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(str(req.url))
        return authorised(req)

    live = Credentials(
        secrets=CREDS.secrets,
        settings={"merchant_account": "StrongboxECOM", "live_url_prefix": "1797a841fbb37ca7-Shop"},
    )
    connector(handler).authorize(request(credentials=live))
    assert seen == [  # host names are case-insensitive; httpx lowers them
        "https://1797a841fbb37ca7-shop-checkout-live.adyenpayments.com/checkout/v71/payments"
    ]
    bad = Credentials(
        secrets=CREDS.secrets,
        settings={"merchant_account": "StrongboxECOM", "live_url_prefix": "evil.com/x?"},
    )
    with pytest.raises(TerminalError):
        connector(handler).authorize(request(credentials=bad))
    assert len(seen) == 1


def test_missing_merchant_account_is_terminal_before_sending() -> None:
    calls: list[httpx.Request] = []
    conn = connector(lambda req: calls.append(req) or authorised(req))  # type: ignore[func-returns-value]
    creds = Credentials(secrets=CREDS.secrets, settings={})
    with pytest.raises(TerminalError, match="merchant_account"):
        conn.authorize(request(credentials=creds))
    assert calls == []


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "code"),
    [
        (
            401,
            {"status": 401, "errorCode": "000", "message": "HTTP Status Response - Unauthorized"},
            {},
            TerminalError,
            "authentication",
        ),
        (
            403,
            {"status": 403, "errorCode": "901", "message": "Invalid Merchant Account"},
            {},
            TerminalError,
            "authentication",
        ),
        (
            422,
            {"status": 422, "errorCode": "14_006", "message": "Required object 'paymentMethod'"},
            {},
            TerminalError,
            "14_006",
        ),
        (
            409,
            {
                "status": 409,
                "errorCode": "704",
                "message": "request already processed or in progress",
            },
            {},
            UnknownOutcomeError,
            "704",
        ),
        (
            500,
            {"status": 500, "errorCode": "905", "message": "Payment details are not supported"},
            {"Transient-Error": "true"},
            RetryableError,
            "905",
        ),
        (
            500,
            {"status": 500, "errorCode": "000", "message": "Internal"},
            {},
            UnknownOutcomeError,
            "000",
        ),
        (502, {}, {}, UnknownOutcomeError, "http_502"),
        (
            503,
            {"status": 503, "errorCode": "000", "message": "Unavailable"},
            {},
            RetryableError,
            "000",
        ),
        (
            429,
            {"status": 429, "errorCode": "000", "message": "Too many"},
            {},
            RetryableError,
            "000",
        ),
    ],
)
def test_error_bodies_are_classified(
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    error: type[Exception],
    code: str,
) -> None:
    body = {**body, "errorType": "validation", "pspReference": "KWK6CNFXZ9R5P5Q2"} if body else {}
    with pytest.raises(error) as info:
        connector(answer(status, body, **headers)).authorize(request())
    assert getattr(info.value, "gateway_code", None) == code
    assert KEY not in str(info.value)
    assert "4242424242424242" not in str(info.value)


def test_network_failures_are_classified() -> None:
    def refused(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    def read_timeout(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=req)

    def dropped(req: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("closed", request=req)

    with pytest.raises(RetryableError):
        connector(refused).authorize(request())
    with pytest.raises(UnknownOutcomeError):
        connector(read_timeout).authorize(request())
    with pytest.raises(UnknownOutcomeError):
        connector(dropped).capture(
            CaptureRequest("strongbox-pa_c", PSP, 100, "eur", "acct_1", credentials=CREDS)
        )


def test_refused_payment_maps_refusal_reason_code() -> None:
    body = {
        "pspReference": PSP,
        "resultCode": "Refused",
        "refusalReason": "Not enough balance",
        "refusalReasonCode": "12",
        "amount": {"currency": "EUR", "value": 2000},
    }
    result = connector(answer(200, body)).authorize(request())
    assert result.status is OperationStatus.DECLINED
    assert result.decline_code == "insufficient_funds"
    assert result.gateway_reference == PSP


def test_invalid_card_number_validation_error_is_a_decline() -> None:
    body = {
        "status": 422,
        "errorCode": "101",
        "message": "Invalid card number",
        "errorType": "validation",
    }
    result = connector(answer(422, body)).authorize(request())
    assert result.status is OperationStatus.DECLINED
    assert result.decline_code == "incorrect_number"


@pytest.mark.parametrize(
    ("code", "raw", "expected"),
    [
        ("2", None, "generic_decline"),
        ("5", None, "pickup_card"),
        ("5", "41 : Lost card", "lost_card"),
        ("5", "43 : Stolen card", "stolen_card"),
        ("6", None, "expired_card"),
        ("8", None, "incorrect_number"),
        ("12", None, "insufficient_funds"),
        ("14", None, "fraudulent"),
        ("20", None, "fraudulent"),
        ("22", None, "fraudulent"),
        ("31", None, "fraudulent"),
        ("24", None, "incorrect_cvc"),
        ("38", None, "authentication_required"),
        ("999", None, "generic_decline"),
        (None, None, "generic_decline"),
    ],
)
def test_decline_mapping_table(code: str | None, raw: str | None, expected: str) -> None:
    assert decline_code_for(code, raw) == expected


def test_every_documented_refusal_code_is_mapped() -> None:
    documented = {str(n) for n in range(2, 47)} - {"13", "30"}  # 13 and 30 are not used
    assert documented <= set(REFUSAL_CODES)


@pytest.mark.parametrize(
    ("result_code", "extra", "expected"),
    [
        ("Pending", {}, OperationStatus.PENDING),
        ("Received", {}, OperationStatus.PENDING),
        ("IdentifyShopper", {"action": {"type": "threeDS2"}}, OperationStatus.PENDING),
        ("SomethingNew", {}, OperationStatus.PENDING),
        ("Cancelled", {}, OperationStatus.DECLINED),
        ("Error", {}, OperationStatus.DECLINED),
        (
            "RedirectShopper",
            {"action": {"type": "redirect", "method": "GET", "url": "https://adyen.test/3ds"}},
            OperationStatus.REQUIRES_ACTION,
        ),
    ],
)
def test_result_codes_map_conservatively(
    result_code: str, extra: dict[str, Any], expected: OperationStatus
) -> None:
    body = {"pspReference": PSP, "resultCode": result_code, **extra}
    result = connector(answer(200, body)).authorize(request())
    assert result.status is expected
    if expected is OperationStatus.REQUIRES_ACTION:
        assert result.next_action is not None
        assert result.next_action.redirect_url == "https://adyen.test/3ds"
    if result_code == "Error":
        assert result.decline_code == "processing_error"


def test_replayed_answer_for_another_amount_is_an_idempotency_clash() -> None:
    with pytest.raises(TerminalError) as info:
        connector(authorised).authorize(request(amount=2001))
    assert info.value.gateway_code == "idempotency_error"


def test_idempotency_keys_longer_than_adyen_allows_are_refused() -> None:
    with pytest.raises(TerminalError):
        connector(authorised).authorize(request(idempotency_key="k" * 65))


def test_get_status_never_calls_adyen_and_is_pending() -> None:
    def fail(req: httpx.Request) -> httpx.Response:
        raise AssertionError("no lookup API to call")

    for kind in OperationKind:
        result = connector(fail).get_status(
            StatusRequest(kind, "strongbox-pa_1", "acct_1", PSP, CREDS)
        )
        assert result.status is OperationStatus.PENDING
        assert result.raw_status == "awaiting_webhook"


def test_repr_and_errors_hold_no_secret() -> None:
    conn = connector(authorised)
    assert KEY not in repr(conn)
    assert KEY not in repr(CREDS)


# ---------------------------------------------------------------------------- against the fake


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[AdyenFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = AdyenFake(
        engine,
        api_keys={KEY: {"StrongboxECOM"}},
        hmac_key="0F" * 32,
    )
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


def test_fake_rejects_a_wrong_api_key_with_adyens_401(
    fake_server: tuple[AdyenFake, BackgroundServer],
) -> None:
    _fake, server = fake_server
    r = httpx.post(
        server.url + "/payments",
        json={"merchantAccount": "StrongboxECOM"},
        headers={"X-API-Key": "wrong"},
    )
    assert r.status_code == 401
    assert r.json()["errorType"] == "security"
    conn = AdyenConnector(server.url, read_timeout=5)
    wrong = Credentials(
        secrets={"api_key": Secret("wrong")}, settings={"merchant_account": "StrongboxECOM"}
    )
    with pytest.raises(TerminalError) as info:
        conn.authorize(request(credentials=wrong, idempotency_key="strongbox-pa_auth"))
    assert info.value.gateway_code == "authentication"


def test_fake_replays_the_first_answer_and_704_while_in_progress(
    fake_server: tuple[AdyenFake, BackgroundServer],
) -> None:
    fake, server = fake_server
    conn = AdyenConnector(server.url, read_timeout=5)
    req = request(idempotency_key=f"strongbox-pa_{time.monotonic_ns()}")
    fake.processing_seconds = 1.0
    first: list[Any] = []
    t = threading.Thread(target=lambda: first.append(conn.authorize(req)))
    try:
        t.start()
        time.sleep(0.4)
        with pytest.raises(UnknownOutcomeError) as info:
            conn.authorize(req)  # the first is still being processed
        assert info.value.gateway_code == "704"
        t.join(5)
    finally:
        fake.processing_seconds = 0.0
    [result] = first
    again = conn.authorize(req)
    assert again.gateway_reference == result.gateway_reference
    charges = [
        c for c in fake.engine.charges() if c.authorize_idempotency_key == req.idempotency_key
    ]
    assert len(charges) == 1
    conn.close()
