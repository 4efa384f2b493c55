"""Rules for payment methods held by a gateway (``payments/gateway_tokens.py``), no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.connectors.base import Credentials, TokenDetails
from strongbox.core.errors import InvalidRequestError, ParameterMissingError
from strongbox.core.params import validate_params
from strongbox.core.secret import Secret
from strongbox.payments.gateway_tokens import (
    TokenTarget,
    card_fields,
    requested_token,
)
from strongbox.payments.schemas import CreatePaymentMethodParams


def params(**fields: object) -> CreatePaymentMethodParams:
    return validate_params(CreatePaymentMethodParams, {"type": "card", **fields})


def test_a_token_with_its_account_is_a_gateway_request() -> None:
    p = params(card={"token": "pm_1QabcDEF"}, connector_account="mca_1")
    assert requested_token(p) == ("pm_1QabcDEF", "mca_1")


def test_card_details_and_stripe_test_tokens_are_not() -> None:
    assert requested_token(params(card={"number": "4242424242424242"})) is None
    assert requested_token(params(card={"token": "tok_visa"})) is None


@pytest.mark.parametrize(
    ("fields", "error", "param"),
    [
        ({"card": {"token": "tok_x", "cvc": "123"}}, InvalidRequestError, "card[cvc]"),
        ({"card": {"token": "tok_x", "exp_month": 1}}, InvalidRequestError, "card[exp_month]"),
        ({"card": {"token": "tok_x"}}, ParameterMissingError, "connector_account"),
        ({"card": {"token": "a b"}, "connector_account": "m"}, InvalidRequestError, "card[token]"),
        ({"card": {"token": "_x"}, "connector_account": "m"}, InvalidRequestError, "card[token]"),
        (
            {"card": {"token": "t" * 256}, "connector_account": "m"},
            InvalidRequestError,
            "card[token]",
        ),
        ({"connector_account": "mca_1"}, InvalidRequestError, "connector_account"),
        (
            {"card": {"number": "4242424242424242"}, "connector_account": "mca_1"},
            InvalidRequestError,
            "connector_account",
        ),
    ],
)
def test_bad_requests_name_the_parameter(
    fields: dict[str, object], error: type[Exception], param: str
) -> None:
    with pytest.raises(error) as exc:
        requested_token(params(**fields))
    assert exc.value.param == param  # type: ignore[attr-defined]


def test_type_is_required_before_the_gateway_is_asked() -> None:
    p = validate_params(
        CreatePaymentMethodParams, {"card": {"token": "pm_1"}, "connector_account": "mca_1"}
    )
    with pytest.raises(ParameterMissingError) as exc:
        requested_token(p)
    assert exc.value.param == "type"


def test_card_fields_keep_what_the_gateway_said() -> None:
    fields = card_fields(
        TokenDetails(
            brand="amex",
            last4="0005",
            exp_month=3,
            exp_year=2031,
            funding="credit",
            country="us",
            fingerprint="Xt5EWLLDS7FJjR1c",
        )
    )
    assert fields == {
        "card_brand": "amex",
        "card_last4": "0005",
        "card_exp_month": 3,
        "card_exp_year": 2031,
        "card_funding": "credit",
        "card_country": "US",
        "fingerprint": "Xt5EWLLDS7FJjR1c",
    }


def test_card_fields_never_invent_or_pass_on_garbage() -> None:
    fields = card_fields(
        TokenDetails(brand="Visa Electron", last4="**42", exp_month=13, exp_year=99, country="USA")
    )
    assert fields["card_brand"] == "unknown"
    assert fields["card_last4"] == "**42"  # fewer digits, said so: kept
    assert (fields["card_exp_month"], fields["card_exp_year"]) == (1, 1970)
    assert fields["card_country"] is None
    assert fields["card_funding"] == "unknown"
    assert fields["fingerprint"] is None
    assert (
        card_fields(TokenDetails(brand="visa", last4="42", exp_month=1, exp_year=2030))[
            "card_last4"
        ]
        == "****"
    )


@given(
    brand=st.text(max_size=40),
    last4=st.text(max_size=8),
    exp_month=st.integers(-(2**40), 2**40),
    exp_year=st.integers(-(2**40), 2**40),
    funding=st.text(max_size=20),
    country=st.none() | st.text(max_size=5),
    fingerprint=st.none() | st.text(max_size=200),
)
def test_card_fields_always_fit_the_columns(
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    funding: str,
    country: str | None,
    fingerprint: str | None,
) -> None:
    f = card_fields(TokenDetails(brand, last4, exp_month, exp_year, funding, country, fingerprint))
    assert isinstance(f["card_brand"], str)
    assert len(f["card_brand"]) <= 32
    assert isinstance(f["card_last4"], str)
    assert len(f["card_last4"]) == 4
    assert isinstance(f["card_exp_month"], int)
    assert 1 <= f["card_exp_month"] <= 12
    assert isinstance(f["card_exp_year"], int)
    assert 1000 <= f["card_exp_year"] <= 9999
    assert f["card_funding"] in {"credit", "debit", "prepaid", "unknown"}
    country = f["card_country"]
    assert country is None or (isinstance(country, str) and len(country) == 2)
    assert country is None or (country.isascii() and country.isalpha() and country.isupper())
    fingerprint = f["fingerprint"]
    assert fingerprint is None or (isinstance(fingerprint, str) and 0 < len(fingerprint) <= 64)


def test_a_target_never_shows_its_token_or_credentials() -> None:
    target = TokenTarget(
        token="tokencc_sb_secretish",
        account_id="mca_1",
        connector="braintree",
        merchant_id="acct_1",
        credentials=Credentials(secrets={"private_key": Secret("bt_private_value")}),
    )
    assert "tokencc" not in repr(target)
    assert "bt_private_value" not in repr(target)
