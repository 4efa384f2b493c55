"""The Braintree connector: SDK errors classified, currency guard, decline codes."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from connectors.fakes.braintree_fake import BraintreeFake
from strongbox.connectors.base import (
    AuthorizeRequest,
    CardData,
    Credentials,
    OperationStatus,
    RetryableError,
    TerminalError,
)
from strongbox.connectors.braintree import BraintreeConnector, parse_environment
from strongbox.connectors.braintree.connector import _decline_code
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
