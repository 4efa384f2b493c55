"""Stripe's bracket-notation wire format: parse_form, parse_pairs, parse_json, read_params."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from stripe._encode import _api_encode

from strongbox.api.forms import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_KEY_LENGTH,
    MAX_PARAMS,
    parse_form,
    parse_json,
    parse_pairs,
    read_params,
)
from strongbox.core.errors import InvalidRequestError, StrongboxError


def stripe_encode(params: Mapping[str, Any]) -> bytes:
    """Encode exactly like stripe-python's APIRequestor (brackets left unescaped)."""
    encoded = urlencode(list(_api_encode(params)))
    return encoded.replace("%5B", "[").replace("%5D", "]").encode()


def outcome(call: Callable[[], object]) -> object:
    """The call's result, or the status of the StrongboxError it raised (anything else fails)."""
    try:
        return call()
    except StrongboxError as err:
        return err.status


def error_of(body: bytes) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        parse_form(body)
    return info.value


# --- parse_form: shapes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", {}),
        (b"amount=1000&currency=usd", {"amount": "1000", "currency": "usd"}),
        (b"metadata[k]=v", {"metadata": {"k": "v"}}),
        (b"metadata[a]=1&metadata[b]=2", {"metadata": {"a": "1", "b": "2"}}),
        (b"expand[]=a&expand[]=b", {"expand": ["a", "b"]}),
        (b"expand[]=a", {"expand": ["a"]}),
        (b"expand[0]=a&expand[1]=b", {"expand": ["a", "b"]}),
        (b"expand[1]=b&expand[0]=a", {"expand": ["a", "b"]}),
        (
            b"items[0][price]=x&items[0][quantity]=2&items[1][price]=y",
            {"items": [{"price": "x", "quantity": "2"}, {"price": "y"}]},
        ),
        (b"a[b][c]=v", {"a": {"b": {"c": "v"}}}),
        (b"a[0][0]=x&a[0][1]=y&a[1][0]=z", {"a": [["x", "y"], ["z"]]}),
        (b"a[b][]=x&a[b][]=y", {"a": {"b": ["x", "y"]}}),
        (b"description=", {"description": ""}),
        (b"description", {"description": ""}),
        (b"metadata[k]=", {"metadata": {"k": ""}}),
        (b"a+b=c+d%20e", {"a b": "c d e"}),
        (b"q=%26%3D%5B%5D", {"q": "&=[]"}),
        (b"name=J%C3%BCrgen", {"name": "J\u00fcrgen"}),
        ("name=Jürgen".encode(), {"name": "J\u00fcrgen"}),
        (b"a=1&&b=2&", {"a": "1", "b": "2"}),
        (b"a=x=y", {"a": "x=y"}),
        (b"x%5Ba%5D=1", {"x": {"a": "1"}}),
        # digit keys that are not dense from 0 stay an object (numeric metadata keys)
        (b"metadata[2024]=x", {"metadata": {"2024": "x"}}),
        (b"m[1]=a&m[2]=b", {"m": {"1": "a", "2": "b"}}),
        (b"m[0]=a&m[2]=b", {"m": {"0": "a", "2": "b"}}),
        (b"m[00]=a", {"m": {"00": "a"}}),
        (b"m[0]=a&m[x]=b", {"m": {"0": "a", "x": "b"}}),
        # the top level never becomes a list
        (b"0=a&1=b", {"0": "a", "1": "b"}),
    ],
)
def test_parse_form_shapes(body: bytes, expected: dict[str, Any]) -> None:
    assert parse_form(body) == expected


def test_values_stay_strings_and_order_is_kept() -> None:
    parsed = parse_form(b"z=1&a=true&m=10.5")
    assert parsed == {"z": "1", "a": "true", "m": "10.5"}
    assert list(parsed) == ["z", "a", "m"]


def test_parse_pairs_matches_parse_form() -> None:
    pairs = [("items[0][price]", "p"), ("expand[]", "a"), ("metadata[k]", "")]
    assert parse_pairs(pairs) == {
        "items": [{"price": "p"}],
        "expand": ["a"],
        "metadata": {"k": ""},
    }
    assert parse_pairs([]) == {}


# --- parse_form: errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (b"a=1&a=2", "a", "given more than once"),
        (b"a[0]=1&a[0]=2", "a[0]", "given more than once"),
        (b"metadata[k]=1&metadata[k]=2", "metadata[k]", "given more than once"),
        (b"a=1&a[b]=2", "a", "conflicting shapes"),
        (b"a[b]=2&a=1", "a", "conflicting shapes"),
        (b"a[]=1&a[b]=2", "a", "conflicting shapes"),
        (b"a[b]=1&a[]=2", "a", "conflicting shapes"),
        (b"a=1&a[]=2", "a", "conflicting shapes"),
        (b"a[]=1&a=2", "a", "conflicting shapes"),
        (b"a[b]=1&a[b][c]=2", "a[b]", "conflicting shapes"),
        (b"a[b][c]=1&a[b]=2", "a[b]", "conflicting shapes"),
        (b"a[][b]=1", "a[][b]", "'[]' may only appear at the end"),
        (b"a[b=1", "a[b", "Invalid parameter name"),
        (b"a]=1", "a]", "Invalid parameter name"),
        (b"a[b]c=1", "a[b]c", "Invalid parameter name"),
        (b"a[b[c]]=1", "a[b[c]]", "Invalid parameter name"),
        (b"[a]=1", "[a]", "Invalid parameter name"),
        (b"=1", None, "Invalid parameter name"),
    ],
)
def test_parse_form_errors(body: bytes, param: str | None, fragment: str) -> None:
    err = error_of(body)
    assert err.param == param
    assert fragment in err.message
    assert err.status == 400
    assert err.type == "invalid_request_error"


def test_exact_error_messages() -> None:
    err = error_of(b"amount=1&amount=2")
    assert err.message == "Parameter amount was given more than once."
    err = error_of(b"a=1&a[b]=2")
    assert err.message == (
        "Parameter a was given with conflicting shapes (as a value, an object and/or a list). "
        "Send it in one form only."
    )


def test_depth_limit() -> None:
    ok = b"a" + b"[b]" * (MAX_DEPTH - 1) + b"=1"
    parsed = parse_form(ok)
    for _ in range(MAX_DEPTH):
        parsed = parsed["a" if "a" in parsed else "b"]
    assert parsed == "1"
    err = error_of(b"a" + b"[b]" * MAX_DEPTH + b"=1")
    assert "nested too deeply" in err.message
    assert err.param == "a" + "[b]" * MAX_DEPTH


def test_parameter_count_limit() -> None:
    ok = "&".join(f"p{i}=x" for i in range(MAX_PARAMS)).encode()
    assert len(parse_form(ok)) == MAX_PARAMS
    too_many = ok + b"&last=x"
    assert "Too many parameters" in error_of(too_many).message
    assert "Too many parameters" in error_of(b"&" * (MAX_PARAMS + 1)).message
    with pytest.raises(InvalidRequestError, match="Too many parameters"):
        parse_pairs(("k[]", "v") for _ in range(MAX_PARAMS + 1))


def test_key_length_limit() -> None:
    assert parse_form(b"k" * MAX_KEY_LENGTH + b"=v") == {"k" * MAX_KEY_LENGTH: "v"}
    err = error_of(b"k" * (MAX_KEY_LENGTH + 1) + b"=v")
    assert "longer than" in err.message
    assert err.param is None


def test_huge_sparse_index_does_not_allocate() -> None:
    assert parse_form(b"a[999999999999999999999]=x") == {"a": {"999999999999999999999": "x"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"a=\xff", "The request body is not valid UTF-8."),
        (b"\xc3\x28=1", "The request body is not valid UTF-8."),
        (b"a=%ff", "The request body contains percent-encoded bytes that are not valid UTF-8."),
        (
            b"a=%ed%a0%80",
            "The request body contains percent-encoded bytes that are not valid UTF-8.",
        ),
    ],
)
def test_invalid_utf8(body: bytes, message: str) -> None:
    err = error_of(body)
    assert err.message == message
    assert err.status == 400


def test_invalid_percent_escape_is_kept_literally() -> None:
    assert parse_form(b"a=%zz") == {"a": "%zz"}


# --- real stripe-python encodings ------------------------------------------------------------


class CapturingHTTPClient(stripe.HTTPClient):
    """A stripe-python HTTP client that records requests instead of sending them."""

    name = "capturing"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        self.calls.append((method, url, dict(headers or {}), post_data))
        if method == "get":
            body = {"object": "list", "data": [], "has_more": False, "url": "/v1/payment_intents"}
        else:
            body = {"id": "pi_123", "object": "payment_intent"}
        return json.dumps(body), 200, {}

    def close(self) -> None:
        pass


@pytest.fixture
def capture() -> CapturingHTTPClient:
    return CapturingHTTPClient()


@pytest.fixture
def client(capture: CapturingHTTPClient) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_123", http_client=capture, max_network_retries=0)


def test_stripe_python_create_body(
    client: stripe.StripeClient, capture: CapturingHTTPClient
) -> None:
    client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "confirm": True,
            "capture_method": "manual",
            "metadata": {"order_id": "6735", "note": "a&b=c [x]", "empty": ""},
            "expand": ["customer", "latest_charge.balance_transaction"],
            "payment_method_types": ["card"],
            "payment_method_options": {"card": {"request_three_d_secure": "any"}},
        }
    )
    method, _url, headers, body = capture.calls[-1]
    assert method == "post"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_form(body.encode()) == {
        "amount": "1000",
        "currency": "usd",
        "confirm": "true",
        "capture_method": "manual",
        "metadata": {"order_id": "6735", "note": "a&b=c [x]", "empty": ""},
        "expand": ["customer", "latest_charge.balance_transaction"],
        "payment_method_types": ["card"],
        "payment_method_options": {"card": {"request_three_d_secure": "any"}},
    }


def test_stripe_python_list_of_objects(
    client: stripe.StripeClient, capture: CapturingHTTPClient
) -> None:
    client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {"price": "price_1", "quantity": 2},
                {"price_data": {"currency": "eur", "unit_amount": 500}, "quantity": 1},
            ],
        }
    )
    body = capture.calls[-1][3]
    assert "line_items[0][price]=price_1" in body
    assert parse_form(body.encode()) == {
        "mode": "payment",
        "line_items": [
            {"price": "price_1", "quantity": "2"},
            {"price_data": {"currency": "eur", "unit_amount": "500"}, "quantity": "1"},
        ],
    }


def test_stripe_python_list_query(
    client: stripe.StripeClient, capture: CapturingHTTPClient
) -> None:
    client.v1.payment_intents.list(
        params={"limit": 3, "expand": ["data.customer"], "created": {"gte": 1700000000}}
    )
    method, url, _headers, body = capture.calls[-1]
    assert method == "get"
    assert body is None
    query = urlsplit(url).query.encode()
    assert parse_form(query) == {
        "limit": "3",
        "expand": ["data.customer"],
        "created": {"gte": "1700000000"},
    }


def test_stripe_python_unset_with_empty_string(
    client: stripe.StripeClient, capture: CapturingHTTPClient
) -> None:
    client.v1.payment_intents.update("pi_123", params={"metadata": "", "description": ""})
    assert parse_form(capture.calls[-1][3].encode()) == {"metadata": "", "description": ""}


def test_stripe_node_style_body() -> None:
    # stripe-node: qs.stringify(..., arrayFormat: indices) with brackets unescaped
    body = (
        b"amount=2000&currency=usd&automatic_payment_methods[enabled]=true"
        b"&metadata[integration_check]=accept_a_payment&expand[0]=latest_charge"
    )
    assert parse_form(body) == {
        "amount": "2000",
        "currency": "usd",
        "automatic_payment_methods": {"enabled": "true"},
        "metadata": {"integration_check": "accept_a_payment"},
        "expand": ["latest_charge"],
    }


def test_curl_style_escaped_brackets() -> None:
    assert parse_form(b"expand%5B%5D=customer&metadata%5Bk%5D=v") == {
        "expand": ["customer"],
        "metadata": {"k": "v"},
    }


# --- property tests ---------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=12)
_keys = st.text(
    st.characters(codec="utf-8", exclude_characters="[]"), min_size=1, max_size=8
).filter(lambda key: not (key.isascii() and key.isdigit()))


def _nested(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return _text
    child = _nested(depth - 1)
    return st.one_of(
        _text,
        st.lists(child, min_size=1, max_size=3),
        st.dictionaries(_keys, child, min_size=1, max_size=3),
    )


_structures = st.dictionaries(_keys, _nested(4), max_size=5)


@settings(max_examples=300, deadline=None)
@given(_structures)
def test_roundtrip_with_stripe_python_encoding(data: dict[str, Any]) -> None:
    assert parse_form(stripe_encode(data)) == data


@settings(max_examples=100, deadline=None)
@given(_structures)
def test_roundtrip_with_strict_percent_encoding(data: dict[str, Any]) -> None:
    # Same pairs with the brackets percent-encoded too (what a strict form encoder sends).
    assert parse_form(urlencode(list(_api_encode(data))).encode()) == data


@settings(max_examples=100, deadline=None)
@given(_structures)
def test_roundtrip_json(data: dict[str, Any]) -> None:
    assert parse_json(json.dumps(data).encode()) == data


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_parse_form_never_raises_anything_else(body: bytes) -> None:
    result = outcome(lambda: parse_form(body))
    assert result == 400 or isinstance(result, dict)


_form_alphabet = st.sampled_from(["[", "]", "[]", "=", "&", "%", "%5B", "%ff", "a", "0", "1", "+"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_form_alphabet, max_size=40).map("".join))
def test_parse_form_bracket_soup(body: str) -> None:
    result = outcome(lambda: parse_form(body.encode()))
    assert result == 400 or isinstance(result, dict)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=15), st.text(max_size=5)), max_size=20))
def test_parse_pairs_never_raises_anything_else(pairs: list[tuple[str, str]]) -> None:
    result = outcome(lambda: parse_pairs(pairs))
    assert result == 400 or isinstance(result, dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parse_json_never_raises_anything_else(body: bytes) -> None:
    result = outcome(lambda: parse_json(body))
    assert result == 400 or isinstance(result, dict)


# --- parse_json -------------------------------------------------------------------------------


def test_parse_json_object() -> None:
    body = b'{"amount": 1000, "confirm": true, "metadata": {"k": "v"}, "x": null, "f": 1.5}'
    assert parse_json(body) == {
        "amount": 1000,
        "confirm": True,
        "metadata": {"k": "v"},
        "x": None,
        "f": 1.5,
    }
    assert parse_json(b"") == {}
    assert parse_json(b"  \n") == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "Invalid JSON in request body: the top level must be an object."),
        (b'"x"', "Invalid JSON in request body: the top level must be an object."),
        (b"null", "Invalid JSON in request body: the top level must be an object."),
        (
            b"{",
            "Invalid JSON in request body: Expecting property name enclosed in double quotes "
            "at line 1 column 2.",
        ),
        (b"{'a': 1}", "Invalid JSON in request body: Expecting property name"),
        (b'{"a": 1,}', "at line 1 column 9."),
        (b'{"a": NaN}', "Invalid JSON in request body: NaN is not a valid JSON number."),
        (b'{"a": -Infinity}', "Invalid JSON in request body: -Infinity is not a valid JSON"),
        (b'{"a": 1, "a": 2}', "Invalid JSON in request body: duplicate key 'a'."),
        (b'{"a": "\xff"}', "The request body is not valid UTF-8."),
        (b'{"a": "\\ud800"}', "unpaired surrogate"),
        (b'{"a": ' + b"1" * 5000 + b"}", "Invalid JSON in request body."),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_parse_json_errors(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_json(body)
    assert message in info.value.message
    assert info.value.message.startswith(("Invalid JSON in request body", "The request body"))
    assert info.value.status == 400


def test_parse_json_limits() -> None:
    deep: Any = "x"
    for _ in range(MAX_DEPTH - 1):
        deep = {"b": deep}
    assert parse_json(json.dumps({"a": deep}).encode()) == {"a": deep}
    with pytest.raises(InvalidRequestError, match="nested too deeply") as info:
        parse_json(json.dumps({"a": {"b": deep}}).encode())
    assert info.value.param == "a"

    many = {"a": list(range(MAX_PARAMS))}
    assert parse_json(json.dumps(many).encode()) == many
    with pytest.raises(InvalidRequestError, match="Too many parameters"):
        parse_json(json.dumps({"a": list(range(MAX_PARAMS)), "b": 1}).encode())

    with pytest.raises(InvalidRequestError, match="longer than"):
        parse_json(json.dumps({"m": {"k" * (MAX_KEY_LENGTH + 1): "v"}}).encode())


# --- read_params ------------------------------------------------------------------------------


def make_request(
    method: str,
    *,
    query: bytes = b"",
    body: bytes = b"",
    content_type: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Request:
    raw_headers = list(headers or [])
    if content_type is not None:
        raw_headers.append((b"content-type", content_type.encode("latin-1")))
    scope = {
        "type": "http",
        "method": method,
        "path": "/v1/payment_intents",
        "raw_path": b"/v1/payment_intents",
        "query_string": query,
        "headers": raw_headers,
        "http_version": "1.1",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "root_path": "",
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def read(request: Request) -> dict[str, Any]:
    return asyncio.run(read_params(request))


def read_error(request: Request) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        read(request)
    return info.value


@pytest.mark.parametrize("method", ["GET", "DELETE", "HEAD"])
def test_read_params_query_only(method: str) -> None:
    request = make_request(
        method, query=b"limit=3&expand[]=data.customer&created[gte]=1", body=b"ignored=1"
    )
    assert read(request) == {
        "limit": "3",
        "expand": ["data.customer"],
        "created": {"gte": "1"},
    }
    assert read(make_request(method)) == {}


def test_read_params_form_body() -> None:
    body = b"amount=1000&metadata[k]=v"
    expected = {"amount": "1000", "metadata": {"k": "v"}}
    for content_type in (
        None,
        "",
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        'application/x-www-form-urlencoded; charset="utf-8"',
    ):
        assert read(make_request("POST", body=body, content_type=content_type)) == expected


def test_read_params_json_body() -> None:
    body = b'{"amount": 1000, "metadata": {"k": "v"}}'
    expected = {"amount": 1000, "metadata": {"k": "v"}}
    assert read(make_request("POST", body=body, content_type="application/json")) == expected
    assert (
        read(make_request("PATCH", body=body, content_type="application/json; charset=utf-8"))
        == expected
    )
    assert read(make_request("POST", content_type="application/json")) == {}


def test_read_params_merges_query_and_body() -> None:
    request = make_request(
        "POST",
        query=b"expand[]=customer",
        body=b"amount=1000",
        content_type="application/x-www-form-urlencoded",
    )
    assert read(request) == {"expand": ["customer"], "amount": "1000"}
    request = make_request(
        "POST", query=b"expand[0]=customer", body=b'{"amount": 5}', content_type="application/json"
    )
    assert read(request) == {"expand": ["customer"], "amount": 5}


def test_read_params_rejects_param_in_query_and_body() -> None:
    err = read_error(make_request("POST", query=b"metadata[a]=1", body=b"metadata[b]=2&amount=1"))
    assert err.param == "metadata"
    assert err.message == (
        "Parameter metadata was given in both the query string and the request body. "
        "Send it in one place only."
    )


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data; boundary=x", "application/xml"]
)
def test_read_params_unsupported_content_type(content_type: str) -> None:
    err = read_error(make_request("POST", body=b"a=1", content_type=content_type))
    assert err.status == 400
    assert err.type == "invalid_request_error"
    assert err.message.startswith("Unsupported Content-Type")


def test_read_params_unsupported_charset() -> None:
    err = read_error(
        make_request("POST", body=b"a=1", content_type="application/json; charset=latin-1")
    )
    assert err.message == "Unsupported charset 'latin-1': request bodies must be UTF-8."


def test_read_params_invalid_json() -> None:
    err = read_error(make_request("POST", body=b"{nope", content_type="application/json"))
    assert err.status == 400
    assert err.message.startswith("Invalid JSON in request body: Expecting property name")
    err = read_error(make_request("POST", body=b"[1]", content_type="application/json"))
    assert err.message == "Invalid JSON in request body: the top level must be an object."


def test_read_params_invalid_query_string() -> None:
    err = read_error(make_request("GET", query=b"a=%ff"))
    assert (
        err.message == "The query string contains percent-encoded bytes that are not valid UTF-8."
    )
    err = read_error(make_request("GET", query=b"a=1&a=2"))
    assert err.param == "a"


def test_read_params_body_size_limit() -> None:
    err = read_error(make_request("POST", body=b"a=" + b"x" * MAX_BODY_BYTES))
    assert err.status == 413
    err = read_error(
        make_request(
            "POST",
            body=b"a=1",
            headers=[(b"content-length", str(MAX_BODY_BYTES + 1).encode())],
        )
    )
    assert err.status == 413
    # A nonsensical Content-Length is ignored; the body actually received is what counts.
    request = make_request(
        "POST", body=b"a=1", headers=[(b"content-length", "\u00b2".encode("latin-1"))]
    )
    assert read(request) == {"a": "1"}
