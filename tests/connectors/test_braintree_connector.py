"""The Braintree connector: SDK errors classified, currency guard, decline codes, nonces."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.fakes.braintree_fake import BraintreeFake
from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CardData,
    Credentials,
    InvalidTokenError,
    OperationStatus,
    RetryableError,
    TerminalError,
    TokenRequest,
    UnsupportedTokenError,
)
from strongbox.connectors.braintree import BraintreeConnector, parse_environment
from strongbox.connectors.braintree.mapping import decline_code as _decline_code
from strongbox.connectors.braintree.mapping import token_details as _token_details
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.secret import Secret

CREDS = Credentials(
    secrets={"private_key": Secret("priv_secret_value")},
    settings={"merchant_id": "mid", "public_key": "pub", "currency": "usd"},
)


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[BraintreeFake, str]]:
    engine = SimulatorEngine()
    bt = BraintreeFake(engine, "mid", "pub", "priv_secret_value")
    with BackgroundServer(engine, app=bt.app) as server:
        yield bt, server.url


def sale(currency: str = "usd", creds: Credentials = CREDS) -> AuthorizeRequest:
    return AuthorizeRequest(
        idempotency_key="strongbox-pa_bt1",
        amount=1999,
        currency=currency,
        capture=True,
        card=CardData(number=Secret("4242424242424242"), exp_month=1, exp_year=2040),
        merchant_id="acct_1",
        payment_id="pi_1",
        credentials=creds,
    )


def test_sale_amount_in_decimal_and_found_again_by_order_id(
    fake: tuple[BraintreeFake, str],
) -> None:
    bt, url = fake
    conn = BraintreeConnector(url, connect_timeout=1, read_timeout=2)
    result = conn.authorize(sale())
    assert result.status is OperationStatus.CAPTURED
    assert result.amount == 1999
    again = conn.authorize(sale())  # no idempotency at Braintree: found by order_id, not re-sent
    assert again.gateway_reference == result.gateway_reference
    assert [c.amount for c in bt.engine.charges()] == [1999]
    assert bt.sales[result.gateway_reference or ""]["order_id"] == "strongbox-pa_bt1"


def test_currency_of_the_merchant_account_is_enforced_before_sending(
    fake: tuple[BraintreeFake, str],
) -> None:
    bt, url = fake
    before = len(bt.engine.charges())
    with pytest.raises(TerminalError) as info:
        BraintreeConnector(url).authorize(sale("eur"))
    assert info.value.gateway_code == "currency_mismatch"
    assert len(bt.engine.charges()) == before


def test_bad_credentials_and_refused_connections(fake: tuple[BraintreeFake, str]) -> None:
    _, url = fake
    wrong = dataclasses.replace(CREDS, secrets={"private_key": Secret("nope")})
    with pytest.raises(TerminalError) as info:
        BraintreeConnector(url).authorize(sale(creds=wrong))
    assert info.value.gateway_code == "authentication"
    assert "nope" not in str(info.value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RetryableError):
        BraintreeConnector(f"http://127.0.0.1:{port}", connect_timeout=1).authorize(sale())


@pytest.mark.parametrize(
    ("status", "code", "reason", "expected"),
    [
        ("processor_declined", "2000", None, "do_not_honor"),
        ("processor_declined", "2001", None, "insufficient_funds"),
        ("processor_declined", "2014", None, "fraudulent"),
        ("processor_declined", "2099", None, "generic_decline"),
        ("failed", "3000", None, "processing_error"),
        ("gateway_rejected", None, "cvv", "incorrect_cvc"),
        ("gateway_rejected", None, "three_d_secure", "authentication_required"),
        ("gateway_rejected", None, "duplicate", "generic_decline"),
    ],
)
def test_decline_codes(status: str, code: str | None, reason: str | None, expected: str) -> None:
    txn = SimpleNamespace(
        status=status, processor_response_code=code, gateway_rejection_reason=reason
    )
    assert _decline_code(txn) == expected


def test_environment_parsing() -> None:
    assert parse_environment("http://127.0.0.1:9000").base_url == "http://127.0.0.1:9000"
    assert parse_environment("sandbox").server.endswith("braintreegateway.com")
    with pytest.raises(ValueError, match="sandbox"):
        parse_environment("ftp://nowhere")
    assert "priv" not in repr(BraintreeConnector("sandbox"))


# ---------------------------------------------------------------------------- nonces


def nonce_sale(nonce: str, *, key: str | None = None, capture: bool = True) -> AuthorizeRequest:
    return AuthorizeRequest(
        idempotency_key=key or f"strongbox-pa_{uuid.uuid4().hex}",
        amount=1250,
        currency="usd",
        capture=capture,
        token=nonce,
        merchant_id="acct_1",
        payment_id="pi_nonce",
        credentials=CREDS,
    )


def describe(url: str, nonce: str, **kwargs: Any) -> Any:
    conn = BraintreeConnector(url, **kwargs)
    return conn.describe_token(TokenRequest(token=nonce, merchant_id="acct_1", credentials=CREDS))


def test_sale_sends_the_nonce_and_no_card_number(fake: tuple[BraintreeFake, str]) -> None:
    bt, url = fake
    assert BraintreeConnector(url).supports(Capability.GATEWAY_TOKEN)
    nonce = bt.make_nonce("4242424242424242")
    request = nonce_sale(nonce, capture=False)
    result = BraintreeConnector(url).authorize(request)
    assert result.status is OperationStatus.AUTHORIZED
    assert result.amount == 1250
    [sent] = bt.sales_with_nonce(nonce)
    assert sent.params["payment_method_nonce"] == nonce
    assert sent.params["order_id"] == request.idempotency_key
    assert sent.params["amount"] == "12.50"
    assert sent.params["options"] == {"submit_for_settlement": False}
    assert "credit_card" not in sent.params
    assert "<credit_card>" not in sent.body
    assert "4242424242424242" not in sent.body
    assert f"<payment_method_nonce>{nonce}</payment_method_nonce>" in sent.body
    assert bt.sales[result.gateway_reference or ""]["payment_method_nonce"] == nonce
    assert bt.nonces[nonce].consumed


def test_replay_of_a_consumed_nonce_answers_from_the_first_sale(
    fake: tuple[BraintreeFake, str],
) -> None:
    bt, url = fake
    conn = BraintreeConnector(url)
    nonce = bt.make_nonce("5555555555554444")
    request = nonce_sale(nonce)
    first = conn.authorize(request)
    again = conn.authorize(request)  # found by order_id before any sale is sent
    assert first.status is again.status is OperationStatus.CAPTURED
    assert again.gateway_reference == first.gateway_reference
    assert len(bt.sales_with_nonce(nonce)) == 1
    charged = [c for c in bt.engine.charges() if c.reference == first.gateway_reference]
    assert [c.amount for c in charged] == [1250]


@pytest.mark.parametrize(
    ("state", "code"),
    [("unknown", "91565"), ("consumed", "91564"), ("locked", "91566")],
)
def test_unusable_nonce_is_an_invalid_token_and_charges_nothing(
    fake: tuple[BraintreeFake, str], state: str, code: str
) -> None:
    bt, url = fake
    conn = BraintreeConnector(url)
    nonce = "tokencc_sb_never_made"
    if state == "consumed":
        nonce = bt.make_nonce("4242424242424242")
        conn.authorize(nonce_sale(nonce))  # uses it up
    elif state == "locked":
        nonce = bt.make_nonce("4242424242424242")
        bt.lock_nonce(nonce)
    before = len(bt.engine.charges())
    request = nonce_sale(nonce)
    with pytest.raises(InvalidTokenError) as info:
        conn.authorize(request)
    assert info.value.gateway_code == code
    assert len(bt.engine.charges()) == before
    assert bt.sales_with_nonce(nonce)[-1].params["order_id"] == request.idempotency_key
    assert not [m for m in bt.sales.values() if m["order_id"] == request.idempotency_key]


def test_decline_on_a_nonce_is_a_result_and_uses_the_nonce_up(
    fake: tuple[BraintreeFake, str],
) -> None:
    bt, url = fake
    conn = BraintreeConnector(url)
    nonce = bt.make_nonce("4000000000009995")
    declined = conn.authorize(nonce_sale(nonce))
    assert declined.status is OperationStatus.DECLINED
    assert declined.decline_code == "insufficient_funds"
    assert declined.details["processor_response_code"] == "2001"
    with pytest.raises(InvalidTokenError) as info:
        conn.authorize(nonce_sale(nonce))  # a new attempt needs a new nonce
    assert info.value.gateway_code == "91564"


@pytest.mark.parametrize(
    ("number", "brand", "country", "funding"),
    [
        ("4242424242424242", "visa", "US", "credit"),
        ("4000056655665556", "visa", "US", "debit"),
        ("5105105105105100", "mastercard", "US", "prepaid"),
        ("378282246310005", "amex", "US", "credit"),
        ("4000002760003184", "visa", "DE", "credit"),
        ("3566002020360505", "jcb", "JP", "credit"),
        ("6200000000000005", "unionpay", "CN", "credit"),
        ("36227206271667", "diners", "US", "credit"),
        ("4111111111111111", "visa", None, "unknown"),  # a BIN the fake knows nothing about
    ],
)
def test_describe_maps_brand_country_and_funding(
    fake: tuple[BraintreeFake, str],
    number: str,
    brand: str,
    country: str | None,
    funding: str,
) -> None:
    bt, url = fake
    nonce = bt.make_nonce(number, exp_month=3, exp_year=2031)
    details = describe(url, nonce)
    assert (details.brand, details.last4, details.exp_month, details.exp_year) == (
        brand,
        number[-4:],
        3,
        2031,
    )
    assert (details.country, details.funding) == (country, funding)
    assert details.fingerprint is None
    assert details.reusable is False
    assert not bt.nonces[nonce].consumed  # describing does not use the nonce


def test_describe_of_an_unknown_or_used_nonce_is_invalid(
    fake: tuple[BraintreeFake, str],
) -> None:
    bt, url = fake
    with pytest.raises(InvalidTokenError) as info:
        describe(url, "tokencc_sb_never_made")
    assert info.value.gateway_code == "unknown"
    with pytest.raises(InvalidTokenError):
        describe(url, "not/a/nonce")  # the SDK refuses it as a path segment: not found
    nonce = bt.make_nonce("4242424242424242")
    BraintreeConnector(url).authorize(nonce_sale(nonce))
    with pytest.raises(InvalidTokenError) as info:
        describe(url, nonce)
    assert info.value.gateway_code == "consumed"
    locked = bt.make_nonce("4242424242424242")
    bt.lock_nonce(locked)
    with pytest.raises(InvalidTokenError) as info:
        describe(url, locked)
    assert info.value.gateway_code == "locked"


def test_static_test_nonces(fake: tuple[BraintreeFake, str]) -> None:
    _, url = fake
    conn = BraintreeConnector(url)
    details = describe(url, "fake-valid-mastercard-nonce")
    assert (details.brand, details.last4) == ("mastercard", "4444")
    first = conn.authorize(nonce_sale("fake-valid-nonce"))
    second = conn.authorize(nonce_sale("fake-valid-nonce"))  # sandbox nonces are reusable
    assert first.status is second.status is OperationStatus.CAPTURED
    assert first.gateway_reference != second.gateway_reference
    declined = conn.authorize(nonce_sale("fake-processor-declined-visa-nonce"))
    assert declined.status is OperationStatus.DECLINED
    with pytest.raises(InvalidTokenError) as info:
        conn.authorize(nonce_sale("fake-consumed-nonce"))
    assert info.value.gateway_code == "91564"


def test_make_nonce_refuses_what_the_client_api_refuses(fake: tuple[BraintreeFake, str]) -> None:
    bt, _ = fake
    with pytest.raises(ValueError, match="invalid"):
        bt.make_nonce("4242424242424241")


def test_describe_transport_errors_are_retryable_and_credentials_terminal(
    fake: tuple[BraintreeFake, str],
) -> None:
    bt, url = fake
    nonce = bt.make_nonce("4242424242424242")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RetryableError):
        describe(f"http://127.0.0.1:{port}", nonce, connect_timeout=1)
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(RetryableError) as info:
            describe(f"http://127.0.0.1:{silent.getsockname()[1]}", nonce, read_timeout=0.5)
        assert info.value.gateway_code == "timeout"
    wrong = dataclasses.replace(CREDS, secrets={"private_key": Secret("nope")})
    with pytest.raises(TerminalError) as terminal:
        BraintreeConnector(url).describe_token(
            TokenRequest(token=nonce, merchant_id="acct_1", credentials=wrong)
        )
    assert terminal.value.gateway_code == "authentication"
    assert not isinstance(terminal.value, InvalidTokenError)


def _nonce(details: dict[str, Any] | None, **bin_data: str) -> SimpleNamespace:
    return SimpleNamespace(
        type="CreditCard",
        details=details,
        bin_data=SimpleNamespace(**bin_data) if bin_data else None,
    )


@pytest.mark.parametrize(
    ("card_type", "brand"),
    [
        ("Visa", "visa"),
        ("MasterCard", "mastercard"),
        ("American Express", "amex"),
        ("Discover", "discover"),
        ("Diners Club", "diners"),
        ("JCB", "jcb"),
        ("China UnionPay", "unionpay"),
        ("UnionPay", "unionpay"),
        ("Maestro", "mastercard"),
        ("Electron", "visa"),
        ("Elo", "unknown"),
        ("Unknown", "unknown"),
    ],
)
def test_card_type_words(card_type: str, brand: str) -> None:
    details = {"card_type": card_type, "last_four": "1234", "expiration_month": "01"}
    details["expiration_year"] = "2030"
    assert _token_details(_nonce(details)).brand == brand


def test_token_details_edges() -> None:
    only_two = {"card_type": "Visa", "last_two": "42", "expiration_month": "7"}
    only_two["expiration_year"] = "2032"
    details = _token_details(_nonce(only_two, country_of_issuance="Unknown", debit="Unknown"))
    assert (details.last4, details.exp_month, details.country, details.funding) == (
        "**42",
        7,
        None,
        "unknown",
    )
    full = dict(only_two, last_four="4242")
    assert _token_details(_nonce(full, country_of_issuance="GBR", debit="Yes")).last4 == "4242"
    yes_no = _token_details(_nonce(full, country_of_issuance="GBR", debit="Yes", prepaid="No"))
    assert (yes_no.country, yes_no.funding) == ("GB", "debit")
    prepaid = _token_details(_nonce(full, debit="Yes", prepaid="Yes"))
    assert prepaid.funding == "prepaid"
    with pytest.raises(UnsupportedTokenError) as info:
        _token_details(_nonce({"last_two": "22", "username": "venmojoe"}))  # not a card
    assert info.value.gateway_code == "unsupported_payment_method"
    with pytest.raises(TerminalError):
        _token_details(_nonce({"card_type": "Visa", "last_four": "4242"}))  # no expiry


@pytest.mark.parametrize("code", ["81703", "91567", "91734"])
def test_card_type_not_accepted_is_a_decline(code: str) -> None:
    refused = SimpleNamespace(
        is_success=False,
        transaction=None,
        message="Credit card type is not accepted by this merchant account.",
        errors=SimpleNamespace(deep_errors=[SimpleNamespace(code=code)]),
    )
    result = BraintreeConnector("sandbox")._result(refused, "usd")
    assert (result.status, result.decline_code) == (OperationStatus.DECLINED, "card_not_supported")


@pytest.mark.parametrize("code", ["91565", "91564", "91566", "93107", "93108", "93109", "91731"])
def test_nonce_validation_codes_are_invalid_tokens(code: str) -> None:
    refused = SimpleNamespace(
        is_success=False,
        transaction=None,
        message="nonce",
        errors=SimpleNamespace(deep_errors=[SimpleNamespace(code=code)]),
    )
    with pytest.raises(InvalidTokenError) as info:
        BraintreeConnector("sandbox")._result(refused, "usd")
    assert info.value.gateway_code == code
