"""``/v1/merchant_origins``: register, list, retrieve and remove embedding origins."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.auth import origins
from strongbox.auth.models import MerchantOrigin
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import DomainEvent, RequestContext
from strongbox.runtime import Runtime
from support import Merchant, error_of

URL = "/v1/merchant_origins"


def _count(runtime: Runtime) -> int:
    with runtime.db.read() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(MerchantOrigin)) or 0)


def test_create_retrieve_list_delete(api: TestClient) -> None:
    r = api.post(URL, data={"origin": "HTTPS://Shop.Example.com:443"})
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["object"] == "merchant_origin"
    assert created["id"].startswith("mo_")
    assert created["origin"] == "https://shop.example.com"
    assert created["livemode"] is False
    assert isinstance(created["created"], int)

    assert api.get(f"{URL}/{created['id']}").json() == created
    second = api.post(URL, json={"origin": "http://localhost:3000"}).json()
    listed = api.get(URL).json()
    assert listed["object"] == "list"
    assert listed["url"] == URL
    assert [o["origin"] for o in listed["data"]] == ["http://localhost:3000", created["origin"]]
    page = api.get(URL, params={"limit": 1}).json()
    assert page["has_more"] is True
    assert page["data"][0]["id"] == second["id"]

    r = api.delete(f"{URL}/{created['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": created["id"], "object": "merchant_origin", "deleted": True}
    assert [o["id"] for o in api.get(URL).json()["data"]] == [second["id"]]
    err = error_of(api.get(f"{URL}/{created['id']}"), 404)
    assert err["code"] == "resource_missing"
    # Removed origins can be registered again.
    assert api.post(URL, data={"origin": "https://shop.example.com"}).status_code == 200


def test_invalid_origin_is_a_400_and_stores_nothing(api: TestClient, runtime: Runtime) -> None:
    for bad in ("https://shop.example.com/checkout", "shop.example.com", "http://shop.example"):
        err = error_of(api.post(URL, data={"origin": bad}), 400)
        assert (err["code"], err["param"]) == ("url_invalid", "origin")
    err = error_of(api.post(URL, data={}), 400)
    assert (err["code"], err["param"]) == ("parameter_missing", "origin")
    err = error_of(api.post(URL, data={"origin": "https://a.example", "colour": "x"}), 400)
    assert err["code"] == "parameter_unknown"
    assert _count(runtime) == 0


def test_an_invalid_origin_takes_no_idempotency_key(api: TestClient) -> None:
    key = {"Idempotency-Key": "origin-1"}
    assert api.post(URL, data={"origin": "ftp://a.example"}, headers=key).status_code == 400
    r = api.post(URL, data={"origin": "https://a.example"}, headers=key)
    assert r.status_code == 200, r.text
    replay = api.post(URL, data={"origin": "https://a.example"}, headers=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == r.content


def test_duplicates_are_rejected(api: TestClient, runtime: Runtime) -> None:
    assert api.post(URL, data={"origin": "https://a.example"}).status_code == 200
    err = error_of(api.post(URL, data={"origin": "HTTPS://A.EXAMPLE:443"}), 400)
    assert (err["code"], err["param"]) == ("resource_already_exists", "origin")
    assert _count(runtime) == 1


def test_at_most_100_origins_per_merchant(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    ctx = RequestContext(merchant_id=merchant.id, actor="test")
    with runtime.db.unit_of_work() as uow:
        for i in range(origins.MAX_ORIGINS_PER_MERCHANT):
            origins.add_origin(uow, ctx, f"https://shop{i}.example")
        uow.commit()
    err = error_of(api.post(URL, data={"origin": "https://one-more.example"}), 400)
    assert err["code"] == "resource_limit_exceeded"
    assert _count(runtime) == origins.MAX_ORIGINS_PER_MERCHANT


def test_other_merchants_origins_are_404(
    api: TestClient, client: TestClient, new_merchant: Any
) -> None:
    other = new_merchant("Other")
    theirs = client.post(URL, data={"origin": "https://a.example"}, headers=other.headers).json()
    # The same origin may be registered by several merchants.
    assert api.post(URL, data={"origin": "https://a.example"}).status_code == 200
    error_of(api.get(f"{URL}/{theirs['id']}"), 404)
    error_of(api.delete(f"{URL}/{theirs['id']}"), 404)
    assert theirs["id"] not in api.get(URL).text
    assert client.get(f"{URL}/{theirs['id']}", headers=other.headers).status_code == 200


def test_publishable_keys_cannot_manage_origins(client: TestClient, merchant: Merchant) -> None:
    pk = {"Authorization": f"Bearer {merchant.publishable_key}"}
    err = error_of(client.post(URL, data={"origin": "https://a.example"}, headers=pk), 403)
    assert err["code"] == "secret_key_required"
    error_of(client.get(URL, headers=pk), 403)
    error_of(client.get(URL), 401)


def test_changes_raise_internal_events_for_the_audit_log(api: TestClient, runtime: Runtime) -> None:
    seen: list[DomainEvent] = []

    def record(_uow: UnitOfWork, event: DomainEvent) -> None:
        seen.append(event)

    runtime.dispatcher.subscribe("strongbox.merchant_origin.*", record)
    created = api.post(URL, data={"origin": "https://a.example"}).json()
    api.delete(f"{URL}/{created['id']}")
    assert [e.type for e in seen] == [
        "strongbox.merchant_origin.created",
        "strongbox.merchant_origin.deleted",
    ]
    assert all(e.internal and e.resource_id == created["id"] for e in seen)
    assert seen[0].context.actor.startswith("api_key:")
    assert seen[0].object["origin"] == "https://a.example"
    # Internal events are not Stripe events: not in /v1/events.
    assert "merchant_origin" not in api.get("/v1/events", params={"limit": 100}).text
