"""List endpoints (limit, cursors, has_more, newest first) and expand[]."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.runtime import Runtime
from support import error_of as _error_of
from support import make_merchant


def make_intents(api: TestClient, n: int) -> list[str]:
    """``n`` intents, returned newest first (the order lists use)."""
    ids = []
    for i in range(n):
        r = api.post("/v1/payment_intents", data={"amount": str(100 + i), "currency": "usd"})
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    return ids[::-1]


def page(api: TestClient, path: str = "/v1/payment_intents", **params: str) -> dict[str, Any]:
    r = api.get(path, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["object"] == "list"
    assert body["url"] == path
    assert isinstance(body["has_more"], bool)
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [o["id"] for o in body["data"]]


# --------------------------------------------------------------------------- limit


def test_default_limit_is_ten(api: TestClient) -> None:
    all_ids = make_intents(api, 12)
    body = page(api)
    assert ids(body) == all_ids[:10]
    assert body["has_more"] is True


@pytest.mark.parametrize("limit", ["1", "3", "100"])
def test_limit_bounds_accepted(api: TestClient, limit: str) -> None:
    all_ids = make_intents(api, 4)
    body = page(api, limit=limit)
    n = int(limit)
    assert ids(body) == all_ids[:n]
    assert body["has_more"] is (n < 4)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "1.5", "1000000"])
def test_limit_out_of_range(api: TestClient, limit: str) -> None:
    for path in ("/v1/payment_intents", "/v1/refunds", "/v1/customers", "/v1/events"):
        err = error_of(api.get(path, params={"limit": limit}), 400)
        assert err["param"] == "limit", path


def test_exact_page_has_no_more(api: TestClient) -> None:
    make_intents(api, 3)
    assert page(api, limit="3")["has_more"] is False
    assert page(api, limit="2")["has_more"] is True


def test_empty_list(api: TestClient) -> None:
    for path in ("/v1/payment_intents", "/v1/refunds", "/v1/customers", "/v1/payment_methods"):
        body = page(api, path)
        assert body["data"] == []
        assert body["has_more"] is False


# --------------------------------------------------------------------------- cursors


def test_starting_after_walks_forward(api: TestClient) -> None:
    all_ids = make_intents(api, 7)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3"}
        if cursor:
            params["starting_after"] = cursor
        body = page(api, **params)
        seen.extend(ids(body))
        pages += 1
        if not body["has_more"]:
            break
        cursor = body["data"][-1]["id"]
    assert seen == all_ids
    assert pages == 3


def test_ending_before_walks_backward(api: TestClient) -> None:
    all_ids = make_intents(api, 7)
    body = page(api, limit="3", ending_before=all_ids[5])
    # The page just before the cursor, still newest first.
    assert ids(body) == all_ids[2:5]
    assert body["has_more"] is True
    body = page(api, limit="3", ending_before=all_ids[2])
    assert ids(body) == all_ids[0:2]
    assert body["has_more"] is False


def test_cursor_at_the_ends(api: TestClient) -> None:
    all_ids = make_intents(api, 3)
    last = page(api, starting_after=all_ids[-1])
    assert last["data"] == []
    assert last["has_more"] is False
    first = page(api, ending_before=all_ids[0])
    assert first["data"] == []
    assert first["has_more"] is False


def test_both_cursors_is_400(api: TestClient) -> None:
    all_ids = make_intents(api, 3)
    err = error_of(
        api.get(
            "/v1/payment_intents",
            params={"starting_after": all_ids[0], "ending_before": all_ids[2]},
        ),
        400,
    )
    assert err["code"] == "parameters_exclusive"


def test_unknown_cursor_is_404(api: TestClient) -> None:
    make_intents(api, 1)
    for key in ("starting_after", "ending_before"):
        err = error_of(api.get("/v1/payment_intents", params={key: "pi_nope"}), 404)
        assert err["code"] == "resource_missing"
        assert err["param"] == key


def test_cursor_of_another_merchant_is_404(api: TestClient, runtime: Runtime) -> None:
    other = make_merchant(runtime, "B")
    mine = make_intents(api, 2)
    theirs = [
        api.post(
            "/v1/payment_intents", data={"amount": "100", "currency": "usd"}, headers=other.headers
        ).json()["id"]
    ]
    err = error_of(api.get("/v1/payment_intents", params={"starting_after": theirs[0]}), 404)
    assert err["code"] == "resource_missing"
    err = error_of(
        api.get("/v1/payment_intents", params={"ending_before": mine[0]}, headers=other.headers),
        404,
    )
    assert err["code"] == "resource_missing"
    # Cursors of another kind of object are not accepted either.
    cus = api.post("/v1/customers").json()["id"]
    error_of(api.get("/v1/payment_intents", params={"starting_after": cus}), 404)


def test_customer_list_paging(api: TestClient) -> None:
    made = [api.post("/v1/customers", data={"name": f"c{i}"}).json()["id"] for i in range(5)]
    made.reverse()
    first = page(api, "/v1/customers", limit="2")
    assert ids(first) == made[:2]
    second = page(api, "/v1/customers", limit="2", starting_after=made[1])
    assert ids(second) == made[2:4]
    assert second["has_more"] is True


def test_deleted_customer_as_cursor(api: TestClient) -> None:
    made = [api.post("/v1/customers", data={"name": f"c{i}"}).json()["id"] for i in range(3)]
    api.delete(f"/v1/customers/{made[1]}")
    body = page(api, "/v1/customers", starting_after=made[2])
    assert ids(body) == [made[0]]


def test_refund_list_paging(api: TestClient) -> None:
    pi = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    ).json()
    made = [
        api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "10"}).json()["id"]
        for _ in range(4)
    ]
    made.reverse()
    body = page(api, "/v1/refunds", limit="3", payment_intent=pi["id"])
    assert ids(body) == made[:3]
    assert body["has_more"] is True
    rest = page(api, "/v1/refunds", limit="3", payment_intent=pi["id"], starting_after=made[2])
    assert ids(rest) == made[3:]
    assert rest["has_more"] is False


def test_created_filter_on_intents(api: TestClient) -> None:
    all_ids = make_intents(api, 2)
    created = page(api)["data"][0]["created"]
    assert ids(page(api, **{"created[gte]": str(created - 5)})) == all_ids
    assert page(api, **{"created[gt]": str(created + 5)})["data"] == []
    assert page(api, **{"created[lte]": str(created - 5)})["data"] == []


# --------------------------------------------------------------------------- expand


@pytest.fixture
def customer_and_pm(api: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    cus = api.post("/v1/customers", data={"email": "x@example.com", "name": "X"}).json()
    pm = api.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": cus["id"]}).json()
    return cus, pm


def test_expand_on_create(
    api: TestClient, customer_and_pm: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    cus, pm = customer_and_pm
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "customer": cus["id"],
            "payment_method": pm["id"],
            "confirm": "true",
            "expand[]": ["customer", "payment_method"],
        },
    )
    assert r.status_code == 200, r.text
    pi = r.json()
    assert pi["customer"] == cus
    assert pi["payment_method"]["id"] == pm["id"]
    assert pi["payment_method"]["object"] == "payment_method"
    assert pi["payment_method"]["card"]["last4"] == "4242"
    # Stripe's indexed form works too.
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "usd", "customer": cus["id"], "expand[0]": "customer"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["customer"]["email"] == "x@example.com"


def test_expand_on_retrieve(
    api: TestClient, customer_and_pm: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    cus, pm = customer_and_pm
    pi = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "customer": cus["id"],
            "payment_method": pm["id"],
        },
    ).json()
    assert pi["customer"] == cus["id"]
    assert pi["payment_method"] == pm["id"]
    r = api.get(f"/v1/payment_intents/{pi['id']}", params={"expand[]": "customer"})
    assert r.status_code == 200, r.text
    assert r.json()["customer"]["id"] == cus["id"]
    assert r.json()["payment_method"] == pm["id"]  # not expanded
    r = api.get(
        f"/v1/payment_intents/{pi['id']}", params={"expand[]": ["customer", "payment_method"]}
    )
    assert r.json()["customer"]["object"] == "customer"
    assert r.json()["payment_method"]["object"] == "payment_method"


def test_expand_null_field_stays_null(api: TestClient) -> None:
    pi = api.post("/v1/payment_intents", data={"amount": "1000", "currency": "usd"}).json()
    r = api.get(
        f"/v1/payment_intents/{pi['id']}", params={"expand[]": ["customer", "payment_method"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["customer"] is None
    assert r.json()["payment_method"] is None


def test_expand_deleted_customer_shows_deleted(
    api: TestClient, customer_and_pm: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    cus, _ = customer_and_pm
    pi = api.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "usd", "customer": cus["id"]},
    ).json()
    api.delete(f"/v1/customers/{cus['id']}")
    r = api.get(f"/v1/payment_intents/{pi['id']}", params={"expand[]": "customer"})
    assert r.status_code == 200, r.text
    assert r.json()["customer"] == {"id": cus["id"], "object": "customer", "deleted": True}


def test_expand_data_customer_on_list(
    api: TestClient, customer_and_pm: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    cus, _ = customer_and_pm
    api.post("/v1/payment_intents", data={"amount": "1000", "currency": "usd"})
    api.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "usd", "customer": cus["id"]},
    )
    body = page(api, **{"expand[]": "data.customer"})
    with_customer, without = body["data"]
    assert with_customer["customer"]["id"] == cus["id"]
    assert with_customer["customer"]["email"] == "x@example.com"
    assert without["customer"] is None
    plain = page(api)
    assert plain["data"][0]["customer"] == cus["id"]


def test_expand_on_confirm_update_and_capture(
    api: TestClient, customer_and_pm: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    cus, pm = customer_and_pm
    pi = api.post(
        "/v1/payment_intents",
        data={
            "amount": "1000",
            "currency": "usd",
            "customer": cus["id"],
            "capture_method": "manual",
        },
    ).json()
    r = api.post(
        f"/v1/payment_intents/{pi['id']}",
        data={"description": "d", "expand[]": "customer"},
    )
    assert r.json()["customer"]["id"] == cus["id"]
    r = api.post(
        f"/v1/payment_intents/{pi['id']}/confirm",
        data={"payment_method": pm["id"], "expand[]": "payment_method"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["payment_method"]["id"] == pm["id"]
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"expand[]": "customer"})
    assert r.status_code == 200, r.text
    assert r.json()["customer"]["id"] == cus["id"]


def test_expand_customer_on_payment_methods(
    api: TestClient, customer_and_pm: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    cus, _ = customer_and_pm
    body = page(api, "/v1/payment_methods", customer=cus["id"], **{"expand[]": "data.customer"})
    assert body["data"][0]["customer"]["id"] == cus["id"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/payment_intents", "latest_charge"),
        ("/v1/payment_intents", "nonsense"),
        ("/v1/payment_intents", "data.nonsense"),
        ("/v1/refunds", "customer"),
        ("/v1/customers", "payment_intent"),
        ("/v1/payment_methods", "payment_intent"),
    ],
)
def test_expand_unknown_field_on_list_is_400(api: TestClient, path: str, field: str) -> None:
    err = error_of(api.get(path, params={"expand[]": field}), 400)
    assert err["param"].startswith("expand")


def test_expand_unknown_field_on_retrieve_and_create_is_400(api: TestClient) -> None:
    pi = api.post("/v1/payment_intents", data={"amount": "1000", "currency": "usd"}).json()
    err = error_of(api.get(f"/v1/payment_intents/{pi['id']}", params={"expand[]": "bogus"}), 400)
    assert err["param"].startswith("expand")
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "1000", "currency": "usd", "expand[]": "bogus"},
    )
    err = error_of(r, 400)
    assert err["param"].startswith("expand")
    # A refused create leaves nothing behind.
    assert ids(page(api)) == [pi["id"]]


def test_expand_too_deep_is_400(api: TestClient) -> None:
    err = error_of(api.get("/v1/payment_intents", params={"expand[]": "a.b.c.d.e"}), 400)
    assert err["param"].startswith("expand")


def test_expand_must_be_a_list(api: TestClient) -> None:
    err = error_of(api.get("/v1/payment_intents", params={"expand": "customer"}), 400)
    assert err["param"] == "expand"


def error_of(r: Any, status: int) -> dict[str, Any]:
    return _error_of(r, status, type_="invalid_request_error")
