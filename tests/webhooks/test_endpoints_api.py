"""The webhook_endpoints API: Stripe's shape, secrets shown once and sealed at rest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from webhook_helpers import create_endpoint

from strongbox.runtime import Runtime
from strongbox.webhooks.models import WebhookEndpoint
from support import error_of

URL = "https://hooks.example.com/strongbox"


def test_create_returns_the_secret_once_in_stripes_shape(api: Any) -> None:
    body = create_endpoint(
        api, URL, ["payment_intent.succeeded", "refund.created"], description="orders"
    )
    assert body["id"].startswith("we_")
    assert body["object"] == "webhook_endpoint"
    assert body["status"] == "enabled"
    assert body["enabled_events"] == ["payment_intent.succeeded", "refund.created"]
    assert body["description"] == "orders"
    assert body["url"] == URL
    assert body["api_version"] == "2024-06-20"
    assert body["secret"].startswith("whsec_")
    again = api.get(f"/v1/webhook_endpoints/{body['id']}").json()
    assert "secret" not in again
    assert again["id"] == body["id"]
    listed = api.get("/v1/webhook_endpoints").json()
    assert listed["object"] == "list"
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert "secret" not in listed["data"][0]


def test_the_secret_is_not_readable_at_rest(api: Any, runtime: Runtime) -> None:
    body = create_endpoint(api, URL, ["*"])
    secret = body["secret"].encode()
    with runtime.db.read() as session:
        row = session.scalars(select(WebhookEndpoint)).one()
        stored = b"".join(
            v if isinstance(v, bytes) else str(v).encode() for v in vars(row).values()
        )
    assert secret not in stored
    assert secret[6:] not in stored


def test_idempotent_replay_of_create_does_not_show_or_store_the_secret(api: Any) -> None:
    headers = {"Idempotency-Key": "we-create-1"}
    first = api.post(
        "/v1/webhook_endpoints", data={"url": URL, "enabled_events[]": "*"}, headers=headers
    )
    assert first.status_code == 200
    assert "secret" in first.json()
    replay = api.post(
        "/v1/webhook_endpoints", data={"url": URL, "enabled_events[]": "*"}, headers=headers
    )
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert "secret" not in replay.json()


def test_update_and_delete(api: Any) -> None:
    e = create_endpoint(api, URL, ["*"], **{"metadata[a]": "1"})
    r = api.post(
        f"/v1/webhook_endpoints/{e['id']}",
        data={
            "url": URL + "/v2",
            "enabled_events[]": ["refund.created"],
            "disabled": "true",
            "metadata[a]": "",
            "metadata[b]": "2",
        },
    )
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["url"] == URL + "/v2"
    assert u["enabled_events"] == ["refund.created"]
    assert u["status"] == "disabled"
    assert u["metadata"] == {"b": "2"}
    r = api.post(f"/v1/webhook_endpoints/{e['id']}", data={"disabled": "false"})
    assert r.json()["status"] == "enabled"
    d = api.delete(f"/v1/webhook_endpoints/{e['id']}")
    assert d.json() == {"id": e["id"], "object": "webhook_endpoint", "deleted": True}
    error_of(api.get(f"/v1/webhook_endpoints/{e['id']}"), 404)


def test_bad_input_gets_stripe_errors_and_changes_nothing(api: Any) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"enabled_events[]": "*"}, "url"),
        ({"url": URL}, "enabled_events"),
        ({"url": "ftp://x.example.com/", "enabled_events[]": "*"}, "url"),
        ({"url": "https://u:p@x.example.com/", "enabled_events[]": "*"}, "url"),
        ({"url": URL, "enabled_events[]": "payment_intent.exploded"}, "enabled_events"),
        ({"url": URL, "enabled_events[]": "*", "bogus": "1"}, "bogus"),
        ({"url": URL, "enabled_events[]": "*", "api_version": "1999-01-01"}, "api_version"),
    ]
    for data, param in cases:
        err = error_of(api.post("/v1/webhook_endpoints", data=data), 400)
        assert err["param"] == param, (data, err)
    assert api.get("/v1/webhook_endpoints").json()["data"] == []


def test_another_merchants_endpoint_is_404(api: Any, client: Any, new_merchant: Any) -> None:
    e = create_endpoint(api, URL)
    other = new_merchant()
    h = other.headers
    error_of(client.get(f"/v1/webhook_endpoints/{e['id']}", headers=h), 404)
    error_of(client.post(f"/v1/webhook_endpoints/{e['id']}", data={"url": URL}, headers=h), 404)
    error_of(client.delete(f"/v1/webhook_endpoints/{e['id']}", headers=h), 404)
    error_of(client.post(f"/v1/webhook_endpoints/{e['id']}/rotate_secret", headers=h), 404)
    error_of(client.get(f"/v1/webhook_endpoints/{e['id']}/attempts", headers=h), 404)
    assert client.get("/v1/webhook_endpoints", headers=h).json()["data"] == []


def test_rotate_secret_returns_a_new_secret_and_the_overlap(api: Any) -> None:
    e = create_endpoint(api, URL)
    r = api.post(f"/v1/webhook_endpoints/{e['id']}/rotate_secret", data={"expires_in": 3600})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != e["secret"]
    assert body["secret_rotation_expires_at"] >= e["created"] + 3600
    err = error_of(
        api.post(f"/v1/webhook_endpoints/{e['id']}/rotate_secret", data={"expires_in": -1}), 400
    )
    assert err["param"] == "expires_in"


def test_redeliver_checks_the_event(api: Any) -> None:
    e = create_endpoint(api, URL)
    err = error_of(
        api.post(f"/v1/webhook_endpoints/{e['id']}/redeliver", data={"event": "evt_nope"}), 404
    )
    assert err["param"] == "event"
    error_of(api.post(f"/v1/webhook_endpoints/{e['id']}/redeliver", data={}), 400)
