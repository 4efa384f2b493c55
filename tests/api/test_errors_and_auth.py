"""Authentication, Stripe-shaped errors, hostile input (never a 500), and tenant isolation."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongbox.runtime import Runtime
from support import Merchant, error_of, make_merchant

ERROR_TYPES = {"api_error", "card_error", "idempotency_error", "invalid_request_error"}


def test_missing_key_is_401(client: TestClient) -> None:
    err = error_of(client.get("/v1/payment_intents"), 401)
    assert err["type"] == "invalid_request_error"
    assert "API key" in err["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sk_test_doesnotexist",
        "Bearer pk_test_doesnotexist",
        "Bearer not-a-key",
        "Bearer ",
        "Bearer",
        "Token sk_test_abc",
        "sk_test_abc",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"sk_test_nope:").decode(),
        "Bearer sk_test_" + "a" * 5000,
    ],
)
def test_bad_key_is_401(client: TestClient, merchant: Merchant, header: str) -> None:
    err = error_of(client.get("/v1/payment_intents", headers={"Authorization": header}), 401)
    assert err["type"] == "invalid_request_error"
    # The key is never echoed back in full.
    assert "a" * 100 not in err["message"]


def test_key_of_the_wrong_merchant_is_not_accepted_partially(
    client: TestClient, merchant: Merchant
) -> None:
    tampered = merchant.secret_key[:-1] + ("A" if merchant.secret_key[-1] != "A" else "B")
    r = client.get("/v1/payment_intents", headers={"Authorization": f"Bearer {tampered}"})
    error_of(r, 401)


def test_secret_key_as_bearer_works(client: TestClient, merchant: Merchant) -> None:
    r = client.get("/v1/payment_intents", headers=merchant.headers)
    assert r.status_code == 200
    assert r.json()["object"] == "list"


def test_publishable_key_on_secret_endpoint_is_403(client: TestClient, merchant: Merchant) -> None:
    headers = {"Authorization": f"Bearer {merchant.publishable_key}"}
    for method, path in [
        ("GET", "/v1/payment_intents"),
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/customers"),
        ("POST", "/v1/refunds"),
        ("GET", "/v1/events"),
    ]:
        r = client.request(method, path, headers=headers, data={"amount": "100"})
        err = error_of(r, 403)
        assert err["type"] == "invalid_request_error"
    assert client.get("/v1/payment_intents", headers=merchant.headers).json()["data"] == []


@pytest.mark.parametrize("password", ["", "ignored"])
def test_http_basic_auth_with_key_as_user(
    client: TestClient, merchant: Merchant, password: str
) -> None:
    token = base64.b64encode(f"{merchant.secret_key}:{password}".encode()).decode()
    r = client.post(
        "/v1/customers",
        data={"name": "basic"},
        headers={"Authorization": f"Basic {token}"},
    )
    assert r.status_code == 200, r.text
    listed = client.get("/v1/customers", headers=merchant.headers).json()
    assert [c["name"] for c in listed["data"]] == ["basic"]


def test_httpx_basic_auth_tuple(client: TestClient, merchant: Merchant) -> None:
    r = client.get("/v1/customers", auth=(merchant.secret_key, ""))
    assert r.status_code == 200, r.text


def test_scheme_is_case_insensitive(client: TestClient, merchant: Merchant) -> None:
    r = client.get(
        "/v1/payment_intents", headers={"Authorization": f"bearer {merchant.secret_key}"}
    )
    assert r.status_code == 200


def test_responses_carry_request_id(api: TestClient, client: TestClient) -> None:
    ok = api.get("/v1/payment_intents")
    assert ok.headers["Request-Id"].startswith("req_")
    bad = client.get("/v1/payment_intents", headers={"Authorization": ""})
    assert bad.headers["Request-Id"].startswith("req_")
    assert bad.headers["Request-Id"] != ok.headers["Request-Id"]


# --------------------------------------------------------------------------- parameter errors


def test_unknown_parameter(api: TestClient) -> None:
    r = api.post("/v1/payment_intents", data={"amount": "100", "currency": "usd", "colour": "r"})
    err = error_of(r, 400)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "parameter_unknown"
    assert err["param"] == "colour"
    assert "colour" in err["message"]


def test_unknown_nested_parameter(api: TestClient) -> None:
    r = api.post("/v1/payment_intents", data={"amount": "100", "currency": "usd", "foo[bar]": "x"})
    err = error_of(r, 400)
    assert err["code"] == "parameter_unknown"
    assert err["param"] in ("foo", "foo[bar]")
    r = api.post("/v1/customers", data={"address[planet]": "Mars"})
    err = error_of(r, 400)
    assert err["code"] == "parameter_unknown"
    assert err["param"] == "address[planet]"


def test_arbitrary_metadata_keys_are_fine(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "100",
            "currency": "usd",
            "metadata[anything]": "1",
            "metadata[2024]": "year",
            "metadata[with space]": "ok",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"anything": "1", "2024": "year", "with space": "ok"}


def test_metadata_limits(api: TestClient) -> None:
    too_many = {f"metadata[k{i}]": "v" for i in range(51)}
    err = error_of(api.post("/v1/customers", data=too_many), 400)
    assert err["param"] == "metadata"
    err = error_of(api.post("/v1/customers", data={f"metadata[{'k' * 41}]": "v"}), 400)
    assert err["param"].startswith("metadata")
    err = error_of(api.post("/v1/customers", data={"metadata[nested][x]": "v"}), 400)
    assert err["param"].startswith("metadata")


def test_missing_required_parameter(api: TestClient) -> None:
    err = error_of(api.post("/v1/payment_intents", data={"currency": "usd"}), 400)
    assert err["code"] == "parameter_missing"
    assert err["param"] == "amount"
    err = error_of(api.post("/v1/payment_intents", data={"amount": "100"}), 400)
    assert err["code"] == "parameter_missing"
    assert err["param"] == "currency"
    err = error_of(api.post("/v1/payment_intents"), 400)
    assert err["code"] == "parameter_missing"


def test_parameter_given_twice(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        content=b"amount=100&amount=200&currency=usd",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    err = error_of(r, 400)
    assert err["param"] == "amount"


def test_malformed_json(api: TestClient) -> None:
    for body in [b'{"amount": 100,', b"[1, 2]", b'"str"', b"{'a': 1}", b'{"a": NaN}', b"\x00"]:
        r = api.post(
            "/v1/payment_intents", content=body, headers={"Content-Type": "application/json"}
        )
        err = error_of(r, 400)
        assert err["type"] == "invalid_request_error"


def test_json_duplicate_keys_rejected(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents",
        content=b'{"amount": 100, "amount": 200, "currency": "usd"}',
        headers={"Content-Type": "application/json"},
    )
    error_of(r, 400)


def test_unsupported_content_type(api: TestClient) -> None:
    r = api.post(
        "/v1/payment_intents", content=b"<xml/>", headers={"Content-Type": "application/xml"}
    )
    error_of(r, 400)


def test_unknown_route_is_stripe_shaped_404(api: TestClient, client: TestClient) -> None:
    err = error_of(api.get("/v1/nonsense"), 404)
    assert err["type"] == "invalid_request_error"
    assert "/v1/nonsense" in err["message"]
    # Unauthenticated too.
    error_of(client.get("/v1/nonsense/deeper"), 404)


def test_wrong_method_is_stripe_shaped(api: TestClient) -> None:
    err = error_of(api.delete("/v1/payment_intents"))
    assert err["type"] == "invalid_request_error"
    error_of(api.put("/v1/refunds"))


# --------------------------------------------------------------------------- hostile input

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}

HOSTILE: list[tuple[str, bytes, dict[str, str]]] = [
    ("deep form nesting", b"metadata" + b"[a]" * 2000 + b"=x", FORM),
    ("deep json nesting", b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON),
    ("deep json objects", b'{"a":' * 5000 + b"1" + b"}" * 5000, JSON),
    ("invalid utf-8 form", b"amount=100&currency=\xff\xfe", FORM),
    ("invalid utf-8 percent", b"amount=100&currency=%ff%fe", FORM),
    ("invalid utf-8 json", b'{"amount": 100, "currency": "\xc3\x28"}', JSON),
    ("lone surrogate json", b'{"amount": 100, "currency": "\\ud800"}', JSON),
    ("array for object", b"amount=100&currency=usd&address[]=a&address[]=b", FORM),
    ("json array for object", b'{"amount": 100, "currency": "usd", "address": [1]}', JSON),
    ("json list of objects", b'{"amount": 100, "currency": "usd", "metadata": [{}]}', JSON),
    ("array for string", b"amount=100&currency[]=usd&name[]=x&payment_intent[]=pi", FORM),
    ("json object for int", b'{"amount": {"a": 1}, "currency": "usd"}', JSON),
    ("json object for str", b'{"amount": 100, "currency": {"c": "usd"}}', JSON),
    ("object for scalar", b"amount[x]=1&currency=usd", FORM),
    ("conflicting shapes", b"metadata=a&metadata[b]=c&amount=1&currency=usd", FORM),
    ("ten thousand params", b"&".join(b"k%d=v" % i for i in range(10_000)), FORM),
    (
        "ten thousand json keys",
        b"{" + b",".join(b'"k%d":1' % i for i in range(10_000)) + b"}",
        JSON,
    ),
    ("huge key", b"a" * 100_000 + b"=1", FORM),
    ("huge int", b"amount=" + b"9" * 5000 + b"&currency=usd", FORM),
    ("huge json int", b'{"amount": ' + b"9" * 5000 + b', "currency": "usd"}', JSON),
    ("brackets", b"][=1&[[]]=2&a]b[=3", FORM),
    ("null bytes", b"amount=1\x00&currency=usd\x00", FORM),
    ("percent nulls", b"amount=%00&currency=%00", FORM),
    ("expand of dicts", b"amount=100&currency=usd&expand[a]=b", FORM),
    ("expand too deep", b"amount=100&currency=usd&expand[]=a.b.c.d.e", FORM),
    ("json expand not list", b'{"amount": 100, "currency": "usd", "expand": "customer"}', JSON),
    ("json float nan-ish", b'{"amount": 1e400, "currency": "usd"}', JSON),
    ("json negative zero", b'{"amount": -0.0, "currency": "usd"}', JSON),
    ("json null required", b'{"amount": null, "currency": null}', JSON),
    ("json bool confirm", b'{"amount": 100, "currency": "usd", "confirm": "yes"}', JSON),
    ("too large body", b"a=" + b"x" * (1024 * 1024 + 10), FORM),
]


@pytest.mark.parametrize(("body", "headers"), [(b, h) for _, b, h in HOSTILE],
                         ids=[name for name, _, _ in HOSTILE])  # fmt: skip
def test_hostile_bodies_are_4xx_never_500(
    api: TestClient, body: bytes, headers: dict[str, str]
) -> None:
    for path in ("/v1/payment_intents", "/v1/customers", "/v1/refunds"):
        r = api.post(path, content=body, headers=headers)
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
        error_of(r)
    assert api.get("/v1/payment_intents").json()["data"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit[]=1",
        "created[gte]=x",
        "created[]=1",
        "starting_after[x]=y",
        "expand=customer",
        "expand[]=" + "a." * 50,
        "a" + "[b]" * 500 + "=1",
        "%ff=1",
        "&".join(f"k{i}=v" for i in range(2000)),
    ],
)
def test_hostile_query_strings_are_4xx(api: TestClient, query: str) -> None:
    for path in ("/v1/payment_intents", "/v1/customers", "/v1/events", "/v1/refunds"):
        r = api.get(f"{path}?{query}")
        assert r.status_code < 500, (path, r.text[:300])
        error_of(r, 400)


def test_hostile_path_ids_are_404(api: TestClient) -> None:
    for pid in ["x" * 5000, "%00", "pi_%ff", "..%2f..%2fetc", "' OR 1=1 --"]:
        for path in (
            f"/v1/payment_intents/{pid}",
            f"/v1/customers/{pid}",
            f"/v1/refunds/{pid}",
            f"/v1/payment_methods/{pid}",
            f"/v1/events/{pid}",
        ):
            r = api.get(path)
            assert r.status_code < 500, (path, r.text[:300])
            error_of(r)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/v1/customers", {"data": {"name": "a\x00b"}}),
        ("POST", "/v1/customers", {"data": {"metadata[k\x00]": "v"}}),
        ("POST", "/v1/customers", {"json": {"metadata": {"k": "a\u0000"}}}),
        ("POST", "/v1/payment_intents", {"json": {"amount": 100, "currency": "usd",
                                                  "description": "x\u0000"}}),
        ("GET", "/v1/customers", {"params": {"email": "x\x00"}}),
        ("GET", "/v1/payment_intents", {"params": {"starting_after": "pi\x00"}}),
        ("GET", "/v1/payment_intents/pi_%00", {}),
        ("POST", "/v1/payment_intents/pi_%00/cancel", {}),
    ],
)  # fmt: skip
def test_nul_characters_are_refused_not_500(
    api: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    # PostgreSQL cannot store or compare text holding NUL: it must never reach the database.
    r = api.request(method, path, **kwargs)
    err = error_of(r)
    assert err["type"] == "invalid_request_error"
    assert api.get("/v1/customers").json()["data"] == []


_form_key = st.text(alphabet="ab[]0%&=", min_size=1, max_size=12)
_form_value = st.text(max_size=12)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pairs=st.lists(st.tuples(_form_key, _form_value), max_size=8),
    raw=st.binary(max_size=64),
    as_json=st.booleans(),
)
def test_fuzzed_bodies_never_500(
    api: TestClient, pairs: list[tuple[str, str]], raw: bytes, as_json: bool
) -> None:
    form = "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass") + raw
    headers = JSON if as_json else FORM
    for path in ("/v1/payment_intents", "/v1/customers/cus_x", "/v1/refunds"):
        r = api.post(path, content=form, headers=headers)
        assert r.status_code < 500, (path, form, r.text[:300])
        if r.status_code != 200:
            error_of(r)


# --------------------------------------------------------------------------- tenancy


@pytest.fixture
def other(runtime: Runtime) -> Merchant:
    return make_merchant(runtime, "Merchant B")


def _a_objects(api: TestClient) -> dict[str, str]:
    """Merchant A's objects: a paid intent with a refund, a customer and an attached pm."""
    cus = api.post("/v1/customers", data={"email": "a@example.com"}).json()
    pm = api.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": cus["id"]}).json()
    pi = api.post(
        "/v1/payment_intents",
        data={
            "amount": "5000",
            "currency": "usd",
            "customer": cus["id"],
            "payment_method": pm["id"],
            "confirm": "true",
        },
    ).json()
    assert pi["status"] == "succeeded"
    re = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "100"}).json()
    auth = api.post(
        "/v1/payment_intents",
        data={
            "amount": "3000",
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    ).json()
    assert auth["status"] == "requires_capture"
    open_pi = api.post("/v1/payment_intents", data={"amount": "1000", "currency": "usd"}).json()
    event = api.get("/v1/events", params={"limit": "1"}).json()["data"][0]
    return {
        "customer": cus["id"],
        "payment_method": pm["id"],
        "payment_intent": pi["id"],
        "charge": pi["latest_charge"],
        "refund": re["id"],
        "authorized": auth["id"],
        "open": open_pi["id"],
        "event": event["id"],
    }


def test_other_merchant_gets_404_for_every_object(api: TestClient, other: Merchant) -> None:
    a = _a_objects(api)
    h = other.headers
    for path in (
        f"/v1/payment_intents/{a['payment_intent']}",
        f"/v1/payment_intents/{a['payment_intent']}/history",
        f"/v1/refunds/{a['refund']}",
        f"/v1/customers/{a['customer']}",
        f"/v1/payment_methods/{a['payment_method']}",
        f"/v1/events/{a['event']}",
    ):
        err = error_of(api.get(path, headers=h), 404)
        assert err["code"] == "resource_missing", path
        assert err["type"] == "invalid_request_error"


def test_other_merchant_lists_never_contain_a_objects(api: TestClient, other: Merchant) -> None:
    a = _a_objects(api)
    h = other.headers
    api.post("/v1/customers", data={"email": "b@example.com"}, headers=h)
    for path in (
        "/v1/payment_intents",
        "/v1/refunds",
        "/v1/customers",
        "/v1/events",
        "/v1/payment_methods",
    ):
        listed = api.get(path, params={"limit": "100"}, headers=h).json()
        ids = {o["id"] for o in listed["data"]}
        ids |= {o["data"]["object"].get("id") for o in listed["data"] if o["object"] == "event"}
        assert not ids & set(a.values()), path
    # Filters naming A's objects find nothing (or 404) for B.
    assert (
        api.get("/v1/refunds", params={"payment_intent": a["payment_intent"]}, headers=h).json()[
            "data"
        ]
        == []
    )
    assert api.get("/v1/refunds", params={"charge": a["charge"]}, headers=h).json()["data"] == []
    assert (
        api.get("/v1/payment_intents", params={"customer": a["customer"]}, headers=h).json()["data"]
        == []
    )
    r = api.get("/v1/payment_methods", params={"customer": a["customer"]}, headers=h)
    assert r.status_code == 404
    # B's list of its own customers is exactly its one customer.
    assert [c["email"] for c in api.get("/v1/customers", headers=h).json()["data"]] == [
        "b@example.com"
    ]


def test_other_merchant_cannot_act_on_a_objects(
    api: TestClient, other: Merchant, runtime: Runtime
) -> None:
    a = _a_objects(api)
    h = other.headers
    attempts = [
        ("/v1/refunds", {"payment_intent": a["payment_intent"]}),
        ("/v1/refunds", {"charge": a["charge"]}),
        (f"/v1/payment_intents/{a['authorized']}/capture", {}),
        (f"/v1/payment_intents/{a['authorized']}/cancel", {}),
        (f"/v1/payment_intents/{a['open']}/cancel", {}),
        (f"/v1/payment_intents/{a['open']}/confirm", {"payment_method": "pm_card_visa"}),
        (f"/v1/payment_intents/{a['open']}", {"metadata[x]": "y", "amount": "9999"}),
        (f"/v1/refunds/{a['refund']}", {"metadata[x]": "y"}),
        (f"/v1/customers/{a['customer']}", {"name": "hijacked"}),
        (f"/v1/payment_methods/{a['payment_method']}/detach", {}),
        (
            "/v1/payment_intents",
            {"amount": "100", "currency": "usd", "customer": a["customer"]},
        ),
        (
            "/v1/payment_intents",
            {"amount": "100", "currency": "usd", "payment_method": a["payment_method"]},
        ),
    ]
    for path, data in attempts:
        err = error_of(api.post(path, data=data, headers=h), 404)
        assert err["code"] == "resource_missing", path
    b_cus = api.post("/v1/customers", headers=h).json()["id"]
    err = error_of(
        api.post(
            f"/v1/payment_methods/{a['payment_method']}/attach",
            data={"customer": b_cus},
            headers=h,
        ),
        404,
    )
    assert err["code"] == "resource_missing"
    err = error_of(api.delete(f"/v1/customers/{a['customer']}", headers=h), 404)

    # Nothing changed for A.
    authorized = api.get(f"/v1/payment_intents/{a['authorized']}").json()
    assert authorized["status"] == "requires_capture"
    assert authorized["amount_capturable"] == 3000
    open_pi = api.get(f"/v1/payment_intents/{a['open']}").json()
    assert open_pi["status"] == "requires_payment_method"
    assert open_pi["metadata"] == {}
    assert open_pi["amount"] == 1000
    refunds = api.get("/v1/refunds", params={"payment_intent": a["payment_intent"]}).json()
    assert [r["amount"] for r in refunds["data"]] == [100]
    assert refunds["data"][0]["metadata"] == {}
    cus = api.get(f"/v1/customers/{a['customer']}").json()
    assert cus["email"] == "a@example.com"
    assert cus.get("deleted") is not True
    assert (
        api.get(f"/v1/payment_methods/{a['payment_method']}").json()["customer"] == (a["customer"])
    )
    assert runtime.simulator is not None
    paid = [c for c in runtime.simulator.charges() if c.payment_id == a["payment_intent"]]
    assert sum(c.refunded_amount for c in paid) == 100
    # B's events mention none of A's objects.
    b_events = api.get("/v1/events", params={"limit": "100"}, headers=h).json()["data"]
    assert {e["data"]["object"]["id"] for e in b_events} == {b_cus}
