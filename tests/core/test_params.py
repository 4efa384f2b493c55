"""Request-parameter models: strict form/JSON types and Stripe-shaped validation errors."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError, field_validator, model_validator
from stripe._encode import _api_encode

from strongbox.api.forms import parse_form
from strongbox.core.errors import (
    InvalidRequestError,
    ParameterMissingError,
    ParameterUnknownError,
    StrongboxError,
)
from strongbox.core.params import (
    DESCRIPTION_MAX_LENGTH,
    ID_MAX_LENGTH,
    METADATA_KEY_MAX_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_VALUE_MAX_LENGTH,
    BoolParam,
    Description,
    Expand,
    IdString,
    IntParam,
    ListParams,
    Metadata,
    MetadataUpdate,
    Params,
    RangeQuery,
    invalid_param,
    validate_params,
)


class Shipping(Params):
    name: IdString
    phone: IdString | None = None


class Item(Params):
    price: IdString
    quantity: IntParam = 1


class CaptureMethod(enum.StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class CreateParams(Params):
    amount: Annotated[IntParam, Field(ge=1)]
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "usd"
    capture_method: Literal["automatic", "manual"] = "automatic"
    setup_future_usage: CaptureMethod | None = None
    confirm: BoolParam = False
    customer: IdString | None = None
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
    expand: Expand = Field(default_factory=list)
    shipping: Shipping | None = None
    items: list[Item] = Field(default_factory=list)
    plain_int: int = 0
    plain_bool: bool = False
    statement_descriptor: Annotated[str, Field(pattern=r"^[A-Z]+$")] | None = None


class UpdateParams(Params):
    metadata: MetadataUpdate | None = None
    description: Description | None = None


def error(model: type[Params], data: Mapping[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        validate_params(model, data)
    return info.value


def message_or_none(model: type[Params], data: Mapping[str, Any]) -> str | None:
    """The error message if validation fails (with a StrongboxError only), else None."""
    try:
        validate_params(model, data)
    except StrongboxError as err:
        return err.message
    return None


def create_error(**data: Any) -> InvalidRequestError:
    return error(CreateParams, {"amount": 1000, **data})


def empty_message(param: str) -> str:
    return (
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
        "from your request or supply a non-empty value."
    )


# --- Params base ------------------------------------------------------------------------------


def test_params_config() -> None:
    assert Params.model_config["extra"] == "forbid"
    assert Params.model_config["frozen"] is True
    assert Params.model_config["str_strip_whitespace"] is False
    params = validate_params(CreateParams, {"amount": "1000", "customer": " cus_1 "})
    assert params.customer == " cus_1 "
    with pytest.raises(ValidationError):
        params.amount = 5  # type: ignore[misc]


def test_valid_form_input() -> None:
    params = validate_params(
        CreateParams,
        {
            "amount": "1000",
            "capture_method": "manual",
            "setup_future_usage": "automatic",
            "confirm": "true",
            "metadata": {"order_id": "6735"},
            "expand": ["customer"],
            "shipping": {"name": "Jenny"},
            "items": [{"price": "price_1", "quantity": "2"}],
        },
    )
    assert params.amount == 1000
    assert params.capture_method == "manual"
    assert params.setup_future_usage is CaptureMethod.AUTOMATIC
    assert params.confirm is True
    assert params.metadata == {"order_id": "6735"}
    assert params.expand == ["customer"]
    assert params.shipping == Shipping(name="Jenny")
    assert params.items == [Item(price="price_1", quantity=2)]


def test_valid_json_input() -> None:
    params = validate_params(CreateParams, {"amount": 1000, "confirm": False, "metadata": {}})
    assert (params.amount, params.confirm, params.metadata) == (1000, False, {})


def test_unknown_parameter() -> None:
    err = create_error(foo="bar")
    assert isinstance(err, ParameterUnknownError)
    assert (err.code, err.param, err.message) == (
        "parameter_unknown",
        "foo",
        "Received unknown parameter: foo",
    )
    err = create_error(shipping={"name": "x", "nmae": "y"})
    assert (err.param, err.message) == (
        "shipping[nmae]",
        "Received unknown parameter: shipping[nmae]",
    )
    err = create_error(items=[{"price": "p"}, {"price": "p", "x": "1"}])
    assert err.message == "Received unknown parameter: items[1][x]"


def test_missing_parameter() -> None:
    err = error(CreateParams, {})
    assert isinstance(err, ParameterMissingError)
    assert (err.code, err.param, err.message) == (
        "parameter_missing",
        "amount",
        "Missing required param: amount.",
    )
    err = create_error(items=[{"quantity": "1"}])
    assert (err.param, err.message) == (
        "items[0][price]",
        "Missing required param: items[0][price].",
    )


def test_first_error_wins() -> None:
    err = error(CreateParams, {"amount": "x", "confirm": "maybe", "bogus": "1"})
    assert err.param == "amount"


def test_errors_are_not_chained_to_pydantic() -> None:
    err = create_error(amount="abc")
    assert err.__cause__ is None
    assert err.__suppress_context__ is True


# --- IntParam ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1000", 1000),
        (1000, 1000),
        ("1", 1),
        ("007", 7),
        ("9223372036854775807", 2**63 - 1),
        (2**63 - 1, 2**63 - 1),
    ],
)
def test_int_param_accepts(value: Any, expected: int) -> None:
    assert validate_params(CreateParams, {"amount": value}).amount == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "Invalid integer: abc"),
        ("10.5", "Invalid integer: 10.5"),
        ("1e3", "Invalid integer: 1e3"),
        (" 12", "Invalid integer:  12"),
        ("12 ", "Invalid integer: 12 "),
        ("+5", "Invalid integer: +5"),
        ("1_000", "Invalid integer: 1_000"),
        ("0x10", "Invalid integer: 0x10"),
        ("\u0661\u0662", "Invalid integer: \u0661\u0662"),
        (True, "Invalid integer: true"),
        (False, "Invalid integer: false"),
        (10.0, "Invalid integer: 10.0"),
        (10.5, "Invalid integer: 10.5"),
        (2**63, "Invalid amount: must be an integer."),
        ("9223372036854775808", "Invalid amount: must be an integer."),
        ("9" * 30, "Invalid amount: must be an integer."),
        ({"x": "1"}, "Invalid amount: must be an integer."),
        (["1"], "Invalid amount: must be an integer."),
        (None, "Invalid amount: must be an integer."),
        ("a" * 50, "Invalid integer: " + "a" * 40 + "..."),
        ("a\nb", "Invalid integer: a?b"),
    ],
)
def test_int_param_rejects(value: Any, message: str) -> None:
    err = create_error(amount=value)
    assert (err.code, err.param, err.message) == ("parameter_invalid_integer", "amount", message)


def test_int_param_empty_string() -> None:
    err = create_error(amount="")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_empty",
        "amount",
        empty_message("amount"),
    )


def test_int_param_bounds() -> None:
    err = create_error(amount="0")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_integer",
        "amount",
        "Invalid amount: must be greater than or equal to 1.",
    )
    err = create_error(amount="-5")
    assert err.message == "Invalid amount: must be greater than or equal to 1."


def test_int_param_nested_location() -> None:
    err = create_error(items=[{"price": "p", "quantity": "two"}])
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_integer",
        "items[0][quantity]",
        "Invalid integer: two",
    )


@pytest.mark.parametrize(
    "card", ["4242424242424242", "4242 4242 4242 4242", "4000-0000-0000-9995", "x378282246310005"]
)
def test_card_numbers_are_never_echoed(card: str) -> None:
    for field in ("amount", "confirm", "plain_int", "plain_bool", "customer", "capture_method"):
        data: dict[str, Any] = {"amount": 1000, field: card}
        if field == "customer":
            data[field] = {"number": card}
        message = message_or_none(CreateParams, data) or ""
        digits = card.replace(" ", "").replace("-", "").lstrip("x")
        assert digits[:12] not in message.replace(" ", "").replace("-", "")
        assert digits[-8:] not in message


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int_param_accepts_every_int64(number: int) -> None:
    class P(Params):
        n: IntParam

    assert validate_params(P, {"n": number}).n == number
    assert validate_params(P, {"n": str(number)}).n == number


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
def test_int_param_rejects_fractions(number: float) -> None:
    class P(Params):
        n: IntParam

    for value in (number, str(number)):
        with pytest.raises(InvalidRequestError) as info:
            validate_params(P, {"n": value})
        assert info.value.code == "parameter_invalid_integer"


def test_plain_int_fields_are_mapped_too() -> None:
    err = create_error(plain_int="abc")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_integer",
        "plain_int",
        "Invalid integer: abc",
    )
    err = create_error(plain_int="")
    assert err.code == "parameter_invalid_empty"


# --- BoolParam --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), (True, True), (False, False)]
)
def test_bool_param_accepts(value: Any, expected: bool) -> None:
    assert validate_params(CreateParams, {"amount": 1, "confirm": value}).confirm is expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("maybe", "Invalid boolean: maybe"),
        ("True", "Invalid boolean: True"),
        ("TRUE", "Invalid boolean: TRUE"),
        ("1", "Invalid boolean: 1"),
        ("yes", "Invalid boolean: yes"),
        ("on", "Invalid boolean: on"),
        (1, "Invalid boolean: 1"),
        (0, "Invalid boolean: 0"),
        (" true", "Invalid boolean:  true"),
        ({"a": "b"}, "Invalid confirm: must be true or false."),
        (None, "Invalid confirm: must be true or false."),
    ],
)
def test_bool_param_rejects(value: Any, message: str) -> None:
    err = create_error(confirm=value)
    assert (err.code, err.param, err.message) == ("parameter_invalid_boolean", "confirm", message)


def test_bool_param_empty_and_plain_bool() -> None:
    err = create_error(confirm="")
    assert (err.code, err.message) == ("parameter_invalid_empty", empty_message("confirm"))
    err = create_error(plain_bool="maybe")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_boolean",
        "plain_bool",
        "Invalid boolean: maybe",
    )


# --- strings, enums, objects, arrays ------------------------------------------------------------


def test_enum_errors() -> None:
    err = create_error(capture_method="sometimes")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid",
        "capture_method",
        "Invalid capture_method: must be one of automatic or manual",
    )
    err = create_error(setup_future_usage="later")
    assert err.message == "Invalid setup_future_usage: must be one of automatic or manual"
    err = create_error(capture_method="")
    assert (err.code, err.message) == ("parameter_invalid_empty", empty_message("capture_method"))

    class Three(Params):
        reason: Literal["duplicate", "fraudulent", "requested_by_customer"]

    err = error(Three, {"reason": "x"})
    assert (
        err.message
        == "Invalid reason: must be one of duplicate, fraudulent or requested_by_customer"
    )


def test_string_errors_never_echo_the_value() -> None:
    err = create_error(customer={"secret": "sk_live_abc"})
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_string",
        "customer",
        "Invalid customer: must be a string.",
    )
    err = create_error(customer=12345)
    assert err.message == "Invalid customer: must be a string."
    err = create_error(currency="us")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_string_length",
        "currency",
        "Invalid currency: must be at least 3 characters.",
    )
    err = create_error(currency="usdollar")
    assert err.message == "Invalid currency: must be at most 3 characters."
    err = create_error(statement_descriptor="lower")
    assert (err.code, err.message) == (
        "parameter_invalid",
        "Invalid statement_descriptor: not in the expected format.",
    )


def test_id_string() -> None:
    assert validate_params(CreateParams, {"amount": 1, "customer": "c" * ID_MAX_LENGTH}).customer
    err = create_error(customer="")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_empty",
        "customer",
        empty_message("customer"),
    )
    err = create_error(customer="c" * (ID_MAX_LENGTH + 1))
    assert (err.code, err.message) == (
        "parameter_invalid_string_length",
        "Invalid customer: must be at most 255 characters.",
    )


def test_description() -> None:
    assert validate_params(CreateParams, {"amount": 1, "description": ""}).description == ""
    text = "d" * DESCRIPTION_MAX_LENGTH
    assert validate_params(CreateParams, {"amount": 1, "description": text}).description == text
    err = create_error(description=text + "d")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_string_length",
        "description",
        "Invalid description: must be at most 1000 characters.",
    )


def test_object_and_array_shape_errors() -> None:
    err = create_error(shipping="Jenny")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid",
        "shipping",
        "Invalid shipping: must be an object.",
    )
    err = create_error(shipping=["Jenny"])
    assert err.message == "Invalid shipping: must be an object."
    err = create_error(shipping="")
    assert (err.code, err.message) == ("parameter_invalid_empty", empty_message("shipping"))
    err = create_error(items="price_1")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid",
        "items",
        "Invalid items: must be an array.",
    )
    # what parse_form produces for items[1][price]=x (indexes not starting at 0)
    err = create_error(items={"1": {"price": "x"}})
    assert err.message == "Invalid items: array indexes must be consecutive integers starting at 0."


# --- metadata -----------------------------------------------------------------------------------


def test_metadata_valid() -> None:
    full = {f"k{i}": "v" * METADATA_VALUE_MAX_LENGTH for i in range(METADATA_MAX_KEYS)}
    assert validate_params(CreateParams, {"amount": 1, "metadata": full}).metadata == full
    long_key = {"k" * METADATA_KEY_MAX_LENGTH: ""}
    assert validate_params(CreateParams, {"amount": 1, "metadata": long_key}).metadata == long_key
    assert validate_params(CreateParams, {"amount": 1, "metadata": ""}).metadata == {}


def test_metadata_json_scalars_become_strings() -> None:
    metadata = {"n": 42, "f": 1.5, "t": True, "b": False, "z": None, "s": "x"}
    assert validate_params(CreateParams, {"amount": 1, "metadata": metadata}).metadata == {
        "n": "42",
        "f": "1.5",
        "t": "true",
        "b": "false",
        "z": "",
        "s": "x",
    }


def test_metadata_numeric_keys_from_forms() -> None:
    # parse_form turns metadata[0]=a&metadata[1]=b into a list, metadata[7]=x into a dict
    dense = parse_form(b"amount=1&metadata[0]=a&metadata[1]=b")
    assert validate_params(CreateParams, dense).metadata == {"0": "a", "1": "b"}
    sparse = parse_form(b"amount=1&metadata[7]=x&metadata[2024]=y")
    assert validate_params(CreateParams, sparse).metadata == {"7": "x", "2024": "y"}


@pytest.mark.parametrize(
    ("metadata", "code", "param", "message"),
    [
        (
            {f"k{i}": "v" for i in range(METADATA_MAX_KEYS + 1)},
            "parameter_invalid",
            "metadata",
            "Metadata can have up to 50 keys, but you passed in 51 keys.",
        ),
        (
            {"k" * 41: "v"},
            "parameter_invalid_string_length",
            "metadata",
            "Metadata keys can have up to 40 characters, but you passed in a key that is 41 "
            "characters long.",
        ),
        (
            {"": "v"},
            "parameter_invalid_empty",
            "metadata",
            "Metadata keys must be non-empty strings.",
        ),
        (
            {"a[b]": "v"},
            "parameter_invalid",
            "metadata",
            "Metadata keys may not contain square brackets.",
        ),
        (
            {"k": "v" * 501},
            "parameter_invalid_string_length",
            "metadata[k]",
            "Metadata values can have up to 500 characters, but you passed in a value that is 501 "
            "characters long (metadata[k]).",
        ),
        (
            {"k": {"nested": "x"}},
            "parameter_invalid_string",
            "metadata[k]",
            "Invalid metadata[k]: must be a string.",
        ),
        (
            {"k": ["x"]},
            "parameter_invalid_string",
            "metadata[k]",
            "Invalid metadata[k]: must be a string.",
        ),
        ("foo", "parameter_invalid", "metadata", "Invalid metadata: must be an object."),
        (5, "parameter_invalid", "metadata", "Invalid metadata: must be an object."),
    ],
)
def test_metadata_errors(metadata: Any, code: str, param: str, message: str) -> None:
    err = create_error(metadata=metadata)
    assert (err.code, err.param, err.message) == (code, param, message)


def test_metadata_update() -> None:
    assert validate_params(UpdateParams, {"metadata": ""}).metadata == ""
    assert validate_params(UpdateParams, {"metadata": {"a": "", "b": "2"}}).metadata == {
        "a": "",
        "b": "2",
    }
    assert validate_params(UpdateParams, {"metadata": {"n": 1}}).metadata == {"n": "1"}
    assert validate_params(UpdateParams, {}).metadata is None
    err = error(UpdateParams, {"metadata": {"k": "v" * 501}})
    assert (err.code, err.param) == ("parameter_invalid_string_length", "metadata[k]")
    err = error(UpdateParams, {"metadata": "clear"})
    assert (err.param, err.message) == ("metadata", "Invalid metadata: must be an object.")
    dumped = validate_params(UpdateParams, {"metadata": ""}).model_dump(mode="json")
    assert dumped == {"metadata": "", "description": None}


# --- expand -------------------------------------------------------------------------------------


def test_expand_valid() -> None:
    paths = ["customer", "latest_charge.balance_transaction", "a.b.c.d", "data.customer"]
    assert validate_params(CreateParams, {"amount": 1, "expand": paths}).expand == paths


@pytest.mark.parametrize(
    ("expand", "code", "param", "message"),
    [
        (
            ["customer", "a.b.c.d.e"],
            "parameter_invalid",
            "expand[1]",
            "You cannot expand more than 4 levels of a property (expand[1]).",
        ),
        (
            ["a..b"],
            "parameter_invalid",
            "expand[0]",
            "Invalid expand[0]: must be a field name or a dot-separated path of field names.",
        ),
        (
            ["customer "],
            "parameter_invalid",
            "expand[0]",
            "Invalid expand[0]: must be a field name or a dot-separated path of field names.",
        ),
        ([""], "parameter_invalid_empty", "expand[0]", empty_message("expand[0]")),
        (
            ["x" * 256],
            "parameter_invalid_string_length",
            "expand[0]",
            "Invalid expand[0]: must be at most 255 characters.",
        ),
        ([5], "parameter_invalid_string", "expand[0]", "Invalid expand[0]: must be a string."),
        ("customer", "parameter_invalid", "expand", "Invalid expand: must be an array."),
        (
            {"1": "customer"},
            "parameter_invalid",
            "expand",
            "Invalid expand: array indexes must be consecutive integers starting at 0.",
        ),
    ],
)
def test_expand_errors(expand: Any, code: str, param: str, message: str) -> None:
    err = create_error(expand=expand)
    assert (err.code, err.param, err.message) == (code, param, message)


# --- ListParams ---------------------------------------------------------------------------------


def test_list_params_defaults() -> None:
    params = validate_params(ListParams, {})
    assert params.limit == 10
    assert params.starting_after is None
    assert params.ending_before is None
    assert params.expand == []
    assert params.created is None


def test_list_params_from_query_string() -> None:
    query = b"limit=3&starting_after=pi_1&expand[]=data.customer&created[gte]=1700000000"
    params = validate_params(ListParams, parse_form(query))
    assert params.limit == 3
    assert params.starting_after == "pi_1"
    assert params.expand == ["data.customer"]
    assert params.created == RangeQuery(gte=1700000000)


@pytest.mark.parametrize(("limit", "expected"), [("1", 1), ("100", 100), (50, 50)])
def test_list_limit_valid(limit: Any, expected: int) -> None:
    assert validate_params(ListParams, {"limit": limit}).limit == expected


@pytest.mark.parametrize(
    ("limit", "code", "message"),
    [
        ("0", "parameter_invalid_integer", "Invalid limit: must be between 1 and 100."),
        ("101", "parameter_invalid_integer", "Invalid limit: must be between 1 and 100."),
        ("-1", "parameter_invalid_integer", "Invalid limit: must be between 1 and 100."),
        ("ten", "parameter_invalid_integer", "Invalid integer: ten"),
        ("", "parameter_invalid_empty", empty_message("limit")),
    ],
)
def test_list_limit_errors(limit: Any, code: str, message: str) -> None:
    err = error(ListParams, {"limit": limit})
    assert (err.code, err.param, err.message) == (code, "limit", message)


def test_list_cursors_are_exclusive() -> None:
    err = error(ListParams, {"starting_after": "pi_1", "ending_before": "pi_2"})
    assert (err.code, err.param, err.message) == (
        "parameters_exclusive",
        "ending_before",
        "You may only specify one of these parameters: ending_before, starting_after.",
    )
    err = error(ListParams, {"starting_after": ""})
    assert (err.code, err.param) == ("parameter_invalid_empty", "starting_after")


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("1700000000", RangeQuery(gte=1700000000, lte=1700000000)),
        (1700000000, RangeQuery(gte=1700000000, lte=1700000000)),
        ({"gt": "1", "lte": 5}, RangeQuery(gt=1, lte=5)),
        ({"gte": "1", "lt": "2"}, RangeQuery(gte=1, lt=2)),
    ],
)
def test_list_created_valid(created: Any, expected: RangeQuery) -> None:
    assert validate_params(ListParams, {"created": created}).created == expected


@pytest.mark.parametrize(
    ("created", "code", "param", "message"),
    [
        ("abc", "parameter_invalid_integer", "created", "Invalid integer: abc"),
        ("1.5", "parameter_invalid_integer", "created", "Invalid integer: 1.5"),
        ("", "parameter_invalid_empty", "created", empty_message("created")),
        ({"gt": "x"}, "parameter_invalid_integer", "created[gt]", "Invalid integer: x"),
        (
            {"eq": "1"},
            "parameter_unknown",
            "created[eq]",
            "Received unknown parameter: created[eq]",
        ),
        (
            ["1"],
            "parameter_invalid",
            "created",
            "Invalid created: must be an integer or an object with gt, gte, lt or lte.",
        ),
    ],
)
def test_list_created_errors(created: Any, code: str, param: str, message: str) -> None:
    err = error(ListParams, {"created": created})
    assert (err.code, err.param, err.message) == (code, param, message)


def test_list_params_subclass() -> None:
    class PaymentIntentListParams(ListParams):
        customer: IdString | None = None

    params = validate_params(PaymentIntentListParams, {"customer": "cus_1", "limit": "5"})
    assert (params.customer, params.limit) == ("cus_1", 5)
    err = error(PaymentIntentListParams, {"status": "x"})
    assert err.message == "Received unknown parameter: status"


# --- custom validators ----------------------------------------------------------------------------


class Refund(Params):
    amount: IntParam | None = None
    reason: IdString | None = None
    payment_intent: IdString | None = None
    charge: IdString | None = None

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, value: str | None) -> str | None:
        if value == "secret":
            raise ValueError("leaky detail: the value was secret")
        if value == "custom":
            raise invalid_param("Invalid {param}: pick a documented reason.", code="reason_bad")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.payment_intent is None and self.charge is None:
            raise invalid_param(
                "One of charge or payment_intent is required.", code="parameter_missing"
            )
        if self.payment_intent is not None and self.charge is not None:
            raise invalid_param(
                "You may only specify one of these parameters: charge, payment_intent.",
                code="parameters_exclusive",
                param="charge",
            )
        return self


class Holder(Params):
    refund: Refund


def test_invalid_param_in_field_validator() -> None:
    err = error(Refund, {"payment_intent": "pi_1", "reason": "custom"})
    assert (err.code, err.param, err.message) == (
        "reason_bad",
        "reason",
        "Invalid reason: pick a documented reason.",
    )


def test_plain_value_error_is_not_leaked() -> None:
    err = error(Refund, {"payment_intent": "pi_1", "reason": "secret"})
    assert (err.code, err.param, err.message) == ("parameter_invalid", "reason", "Invalid reason.")


def test_invalid_param_in_model_validator() -> None:
    err = error(Refund, {})
    assert (err.code, err.param, err.message) == (
        "parameter_missing",
        None,
        "One of charge or payment_intent is required.",
    )
    err = error(Refund, {"payment_intent": "pi_1", "charge": "ch_1"})
    assert (err.code, err.param) == ("parameters_exclusive", "charge")
    err = error(Holder, {"refund": {"payment_intent": "pi_1", "charge": "ch_1"}})
    assert err.param == "refund[charge]"
    err = error(Holder, {"refund": {}})
    assert err.param == "refund"


def test_strongbox_errors_from_validators_propagate() -> None:
    class P(Params):
        x: IdString

        @field_validator("x")
        @classmethod
        def _boom(cls, value: str) -> str:
            raise InvalidRequestError("No such thing.", code="resource_missing", param="x")

    with pytest.raises(InvalidRequestError, match=r"No such thing\."):
        validate_params(P, {"x": "y"})


# --- end to end with stripe-python's encoder ---------------------------------------------------


def stripe_body(params: Mapping[str, Any]) -> bytes:
    encoded = urlencode(list(_api_encode(params)))
    return encoded.replace("%5B", "[").replace("%5D", "]").encode()


def test_stripe_python_body_validates() -> None:
    body = stripe_body(
        {
            "amount": 2000,
            "currency": "eur",
            "confirm": True,
            "capture_method": "manual",
            "metadata": {"order_id": 6735, "note": ""},
            "expand": ["customer"],
            "items": [{"price": "price_1", "quantity": 3}],
            "shipping": {"name": "Jenny Rosen"},
        }
    )
    params = validate_params(CreateParams, parse_form(body))
    assert params.amount == 2000
    assert params.confirm is True
    assert params.capture_method == "manual"
    assert params.metadata == {"order_id": "6735", "note": ""}
    assert params.items == [Item(price="price_1", quantity=3)]
    assert params.shipping == Shipping(name="Jenny Rosen")


_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
_fields = st.sampled_from([*sorted(CreateParams.model_fields), "unknown", "created"])


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_fields, _json_values, max_size=6))
def test_only_strongbox_errors_and_no_pydantic_wording(data: dict[str, Any]) -> None:
    message = message_or_none(CreateParams, data)
    if message is None:
        return
    assert "Input should" not in message
    assert "pydantic" not in message
    assert "Value error" not in message
    assert len(message) < 400


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["amount", "confirm", "customer", "capture_method", "metadata", "expand"]),
    st.from_regex(r"[0-9]{13,19}", fullmatch=True),
    st.text(max_size=5),
)
def test_card_like_values_never_appear_in_messages(field: str, pan: str, noise: str) -> None:
    value: Any = noise + pan + noise
    if field == "metadata":
        value = {"k": {"pan": value}}
    elif field == "expand":
        value = [value]
    message = message_or_none(CreateParams, {"amount": 1000, field: value}) or ""
    assert pan not in message
    assert pan[:12] not in message
