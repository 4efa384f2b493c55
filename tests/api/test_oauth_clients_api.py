"""``/v1/oauth_clients``: registration by the merchant's unrestricted secret key only."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth.oauth.models import OAuthClient
from strongbox.runtime import Runtime
from support import Merchant, error_of


def _count(runtime: Runtime) -> int:
    with runtime.db.engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(OAuthClient)) or 0)


def test_create_list_retrieve_revoke(api: TestClient, runtime: Runtime) -> None:
    r = api.post(
        "/v1/oauth_clients",
        data={
            "name": "Shop app",
            "client_type": "public",
            "scope": "customers:write payment_intents:read",
            "redirect_uris[]": ["https://shop.example/cb", "com.example.shop:/oauth"],
        },
    )
    assert r.status_code == 200, r.text
    app = r.json()
    assert app["object"] == "oauth_client"
    assert app["grant_types"] == ["authorization_code", "refresh_token"]
    assert "client_secret" not in app  # a public client has none
    service = api.post("/v1/oauth_clients", data={"name": "Reports", "scope": "balance:read"})
    secret = service.json()["client_secret"]
    assert secret.startswith("oacs_")
    assert service.headers["cache-control"] == "no-store"
    listed = api.get("/v1/oauth_clients").json()
    assert [c["id"] for c in listed["data"]] == [service.json()["id"], app["id"]]
    assert all("client_secret" not in c for c in listed["data"])
    got = api.get(f"/v1/oauth_clients/{app['id']}").json()
    assert got == {**app, "revoked": False}
    revoked = api.post(f"/v1/oauth_clients/{service.json()['id']}/revoke")
    assert revoked.json()["revoked"] is True
    # the revoked client can no longer get tokens
    https = TestClient(create_app(runtime, run_workers=False), base_url="https://testserver")
    basic = base64.b64encode(f"{service.json()['id']}:{secret}".encode()).decode()
    token = https.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 401


def test_bad_input_is_400_and_writes_nothing(api: TestClient, runtime: Runtime) -> None:
    bad: list[dict[str, Any]] = [
        {"name": "x", "scope": "root:all"},
        {"name": "x", "scope": "customers:read", "client_type": "trusted"},
        {"name": "x", "scope": "customers:read", "redirect_uris[]": "http://evil.example/cb"},
        {"name": "x", "scope": "customers:read", "client_type": "public"},
        {"name": "x", "scope": "customers:read", "grant_types[]": "password"},
        {"name": "", "scope": "customers:read"},
    ]
    for data in bad:
        error_of(api.post("/v1/oauth_clients", data=data), 400)
    assert _count(runtime) == 0


def test_other_merchants_and_oauth_tokens_are_refused(
    api: TestClient, client: TestClient, runtime: Runtime, new_merchant: Any
) -> None:
    # A token even with api_keys:write (which the one route-permission check lets through)
    # cannot register clients: that takes an unrestricted secret key.
    made = api.post(
        "/v1/oauth_clients", data={"name": "Reports", "scope": "customers:write api_keys:write"}
    )
    other: Merchant = new_merchant("Other")
    error_of(client.get(f"/v1/oauth_clients/{made.json()['id']}", headers=other.headers), 404)
    https = TestClient(create_app(runtime, run_workers=False), base_url="https://testserver")
    basic = base64.b64encode(f"{made.json()['id']}:{made.json()['client_secret']}".encode())
    token = https.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic.decode()}"},
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    err = error_of(
        https.post(
            "/v1/oauth_clients", data={"name": "Mine", "scope": "api_keys:write"}, headers=bearer
        ),
        403,
    )
    assert "unrestricted secret key" in err["message"]
    assert _count(runtime) == 1
