"""The OAuth2 flows over HTTP: client credentials, authorization code with PKCE, refresh
rotation with reuse detection, revocation, introspection, JWKS and metadata."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import sqlalchemy as sa
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi.testclient import TestClient

from auth.oauth.conftest import REDIRECT, RegisteredClient, authorize, pkce_pair
from strongbox.auth.oauth.models import OAuthRefreshToken
from strongbox.runtime import Runtime
from support import Merchant, error_of


def _code_from(r: Any) -> str:
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def _exchange(https: TestClient, client: RegisteredClient, code: str, verifier: str) -> Any:
    return https.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client.id,
            "code_verifier": verifier,
        },
    )


def test_client_credentials_token_works_as_a_bearer_on_the_api(
    https: TestClient, service_client: RegisteredClient, merchant: Merchant
) -> None:
    r = https.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "customers:write"},
        headers=service_client.basic,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "customers:write"
    assert 0 < body["expires_in"] <= 900
    assert "refresh_token" not in body
    assert r.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == merchant.id
    assert claims["exp"] - claims["iat"] <= 900
    assert set(claims) >= {"iss", "aud", "exp", "nbf", "iat", "jti", "scope"}
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    created = https.post("/v1/customers", data={"name": "via oauth"}, headers=auth)
    assert created.status_code == 200, created.text
    listed = https.get("/v1/customers", headers={"Authorization": f"Bearer {merchant.secret_key}"})
    assert [c["name"] for c in listed.json()["data"]] == ["via oauth"]


def test_client_credentials_refuses_a_wrong_secret_and_a_scope_beyond_the_client(
    https: TestClient, service_client: RegisteredClient
) -> None:
    bad = RegisteredClient(service_client.id, "oacs_wrong")  # pragma: allowlist secret
    r = https.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=bad.basic)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    r = https.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "refunds:write"},
        headers=service_client.basic,
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope"


def test_authorization_code_with_pkce_then_refresh_rotation(
    https: TestClient, app_client: RegisteredClient, merchant: Merchant
) -> None:
    verifier, challenge = pkce_pair()
    code = _code_from(authorize(https, merchant, app_client, challenge))
    r = _exchange(https, app_client, code, verifier)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["scope"] == "customers:write"
    assert first["refresh_token"].startswith("oart_")
    r = https.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": app_client.id,
        },
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]


def test_a_code_is_single_use_and_its_reuse_revokes_what_it_gave(
    https: TestClient, app_client: RegisteredClient, merchant: Merchant
) -> None:
    verifier, challenge = pkce_pair()
    code = _code_from(authorize(https, merchant, app_client, challenge))
    tokens = _exchange(https, app_client, code, verifier).json()
    again = _exchange(https, app_client, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    r = https.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": app_client.id,
        },
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_reusing_a_rotated_refresh_token_revokes_the_family(
    https: TestClient, app_client: RegisteredClient, merchant: Merchant, runtime: Runtime
) -> None:
    verifier, challenge = pkce_pair()
    tokens = _exchange(
        https, app_client, _code_from(authorize(https, merchant, app_client, challenge)), verifier
    ).json()

    def refresh(value: str) -> Any:
        return https.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": value,
                "client_id": app_client.id,
            },
        )

    rotated = refresh(tokens["refresh_token"]).json()
    reuse = refresh(tokens["refresh_token"])  # the old one again: a thief or a replay
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # the legitimate newest token is revoked too: the whole family is gone
    after = refresh(rotated["refresh_token"])
    assert after.status_code == 400
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(sa.select(OAuthRefreshToken.revoked_at)).all()
    assert rows
    assert all(r.revoked_at is not None for r in rows)


def test_pkce_wrong_verifier_plain_method_and_missing_challenge_are_refused(
    https: TestClient, app_client: RegisteredClient, merchant: Merchant
) -> None:
    verifier, challenge = pkce_pair()
    code = _code_from(authorize(https, merchant, app_client, challenge))
    wrong = _exchange(https, app_client, code, pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    base = {
        "response_type": "code",
        "client_id": app_client.id,
        "redirect_uri": REDIRECT,
        "state": "xyz",
    }
    plain = https.get(
        "/oauth/authorize",
        params={**base, "code_challenge": verifier, "code_challenge_method": "plain"},
        follow_redirects=False,
    )
    missing = https.get("/oauth/authorize", params=base, follow_redirects=False)
    for r in (plain, missing):
        assert r.status_code == 302, r.text
        query = parse_qs(urlsplit(r.headers["location"]).query)
        assert query["error"] == ["invalid_request"]


def test_consent_needs_the_owning_merchants_secret_key(
    https: TestClient,
    app_client: RegisteredClient,
    merchant: Merchant,
    new_merchant: Any,
) -> None:
    _, challenge = pkce_pair()
    other = new_merchant("Other")
    r = authorize(https, other, app_client, challenge)
    assert r.status_code == 403
    denied = authorize(https, merchant, app_client, challenge, decision="deny")
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
    unknown = https.get(
        "/oauth/authorize",
        params={"response_type": "code", "client_id": "oac_nobody", "redirect_uri": REDIRECT},
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_client"


def test_revocation_and_introspection(
    https: TestClient, service_client: RegisteredClient, merchant: Merchant
) -> None:
    token = https.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_client.basic
    ).json()["access_token"]
    info = https.post("/oauth/introspect", data={"token": token}, headers=service_client.basic)
    assert info.status_code == 200
    assert info.json()["active"] is True
    assert info.json()["sub"] == merchant.id
    auth = {"Authorization": f"Bearer {token}"}
    assert https.get("/v1/customers", headers=auth).status_code == 200
    r = https.post("/oauth/revoke", data={"token": token}, headers=service_client.basic)
    assert r.status_code == 200
    assert https.post(
        "/oauth/introspect", data={"token": token}, headers=service_client.basic
    ).json() == {"active": False}
    refused = https.get("/v1/customers", headers=auth)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "access_token_invalid"
    # an unknown token is "revoked" too (RFC 7009 §2.2) and inactive on introspection
    assert (
        https.post(
            "/oauth/revoke", data={"token": "nope"}, headers=service_client.basic
        ).status_code
        == 200
    )


def test_metadata_and_jwks(https: TestClient, service_client: RegisteredClient) -> None:
    meta = https.get("/.well-known/oauth-authorization-server").json()
    AuthorizationServerMetadata(meta).validate()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    token = https.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_client.basic
    ).json()["access_token"]
    keys = https.get("/oauth/jwks").json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in keys if k["kid"] == kid]
    assert jwk["alg"] == "ES256"
    assert "d" not in jwk  # never the private part
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, public, algorithms=["ES256"], audience=meta["issuer"] + "/v1")
    assert claims["iss"] == meta["issuer"]


def test_plain_http_off_loopback_is_refused(
    client: TestClient, service_client: RegisteredClient
) -> None:
    r = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_client.basic
    )
    assert r.status_code == 400
    assert r.json()["error"] == "insecure_transport"


def test_a_token_for_another_audience_is_a_401_stripe_shaped_error(
    https: TestClient, runtime: Runtime, merchant: Merchant, service_client: RegisteredClient
) -> None:
    from dataclasses import replace

    from strongbox.events.types import RequestContext

    assert runtime.oauth is not None
    elsewhere = replace(runtime.oauth, audience="https://another-api.example/v1")
    with runtime.db.unit_of_work() as uow:
        token, _ = elsewhere.mint(
            uow,
            RequestContext(merchant_id=merchant.id, actor="test"),
            merchant_id=merchant.id,
            client_id=service_client.id,
            scope=frozenset({"customers:write"}),
        )
        uow.commit()
    r = https.post(
        "/v1/customers", data={"name": "nope"}, headers={"Authorization": f"Bearer {token}"}
    )
    err = error_of(r, 401)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "access_token_invalid"
    assert "audience" in err["message"]
    assert token not in r.text
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    listed = https.get("/v1/customers", headers=merchant.headers).json()
    assert listed["data"] == []


def test_tokens_and_secrets_never_reach_the_logs(
    https: TestClient, service_client: RegisteredClient, caplog: Any
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)  # everything a handler could see
    r = https.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_client.basic
    )
    token = r.json()["access_token"]
    assert service_client.secret is not None
    https.post("/oauth/introspect", data={"token": token}, headers=service_client.basic)
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text
    assert service_client.secret not in caplog.text


def test_a_bearer_jwt_pays_on_the_payment_path(
    https: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    from auth.oauth.conftest import register

    service = register(runtime, merchant.id, scope="payment_intents:write")
    token = https.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service.basic
    ).json()["access_token"]
    r = https.post(
        "/v1/payment_intents",
        data={"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa",
              "confirm": "true"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "oauth-pay-1"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"


def test_every_change_leaves_an_audit_entry(
    https: TestClient, app_client: RegisteredClient, merchant: Merchant, runtime: Runtime
) -> None:
    verifier, challenge = pkce_pair()
    tokens = _exchange(
        https, app_client, _code_from(authorize(https, merchant, app_client, challenge)), verifier
    ).json()
    https.post("/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": app_client.id})
    with runtime.db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT action, merchant_id FROM audit_entries WHERE action LIKE '%oauth%'")
        ).all()
    actions = {r.action for r in rows}
    assert actions >= {
        "strongbox.oauth_client.created",
        "strongbox.oauth_authorization.granted",
        "strongbox.oauth_signing_key.rotated",
        "strongbox.oauth_token.issued",
        "strongbox.oauth_token_family.revoked",
    }
    by_action = {r.action: r.merchant_id for r in rows}
    assert by_action["strongbox.oauth_signing_key.rotated"] is None  # installation-wide
    assert by_action["strongbox.oauth_token.issued"] == merchant.id


def test_the_consent_page_escapes_and_cannot_be_framed(
    https: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    evil = "<script>alert(1)</script>"
    with runtime.db.unit_of_work() as uow:
        from strongbox.auth.oauth import clients
        from strongbox.events.types import RequestContext

        new = clients.create_client(
            uow,
            RequestContext(merchant_id=merchant.id, actor="test"),
            name=evil,
            kind="public",
            scope="customers:read refunds:read",
            redirect_uris=[REDIRECT],
        )
        uow.commit()
    _, challenge = pkce_pair()
    page = https.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": new.client.id,
            "redirect_uri": REDIRECT,
            "scope": "refunds:read",
            "state": '"><img src=x>',
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200
    assert evil not in page.text
    assert "&lt;script&gt;" in page.text
    assert '"><img' not in page.text
    assert "<code>refunds:read</code>" in page.text
    assert "customers:read" not in page.text  # only what is asked for
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
