"""Restricted keys and rolled keys over HTTP: per-resource levels, 403 naming the missing
permission, no escalation, IP allowlists, expiry, rolling with an overlap and the sweeper."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from auth.conftest import Clocked
from strongbox.api.app import create_app
from strongbox.audit.models import AuditEntry
from strongbox.auth.models import ApiKey
from strongbox.idempotency.models import IdempotencyKey
from strongbox.workers.access import sweep_once
from support import error_of


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _create(c: TestClient, sk: str, **body: Any) -> dict[str, Any]:
    r = c.post("/v1/api_keys", json={"name": "reporting", **body}, headers=_bearer(sk))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_a_restricted_key_does_what_its_levels_allow(clocked: Clocked) -> None:
    c = clocked.client()
    sk = clocked.merchant.secret_key
    key = _create(c, sk, permissions={"customers": "write", "payment_intents": "read"})
    rk = key["secret"]
    assert rk.startswith("rk_test_")
    assert key["type"] == "restricted"
    assert key["permissions"] == {"customers": "write", "payment_intents": "read"}
    assert c.post("/v1/customers", data={"name": "x"}, headers=_bearer(rk)).status_code == 200
    assert c.get("/v1/payment_intents", headers=_bearer(rk)).status_code == 200
    denied = c.post("/v1/refunds", data={"payment_intent": "pi_x"}, headers=_bearer(rk))
    err = error_of(denied, 403)
    assert err["type"] == "permission_error"
    assert err["code"] == "permission_denied"
    assert "'refunds:write'" in err["message"]
    write = c.post("/v1/payment_intents", data={"amount": "100", "currency": "usd"},
                   headers=_bearer(rk))  # fmt: skip
    assert "'payment_intents:write'" in error_of(write, 403)["message"]
    # shown once: not in retrieve, list, nor the stored idempotent response
    shown = c.get(f"/v1/api_keys/{key['id']}", headers=_bearer(sk)).json()
    assert "secret" not in shown
    assert shown["redacted"].endswith(rk[-4:])
    assert rk not in c.get("/v1/api_keys", headers=_bearer(sk)).text


def test_idempotent_replay_never_holds_the_key(clocked: Clocked) -> None:
    c = clocked.client()
    headers = {**_bearer(clocked.merchant.secret_key), "Idempotency-Key": "k1"}
    body = {"name": "n", "permissions": {"events": "read"}}
    first = c.post("/v1/api_keys", json=body, headers=headers)
    again = c.post("/v1/api_keys", json=body, headers=headers)
    assert "secret" in first.json()
    assert "secret" not in again.json()
    with clocked.rt.db.engine.connect() as conn:
        stored = conn.execute(sa.select(IdempotencyKey.response_body)).scalars().all()
    assert stored
    assert all(first.json()["secret"] not in (s or "") for s in stored)


def test_a_key_cannot_make_a_stronger_key(clocked: Clocked) -> None:
    c = clocked.client()
    levels = {"customers": "read"}
    levels["api_keys"] = "write"  # pragma: allowlist secret
    rk = _create(c, clocked.merchant.secret_key, permissions=levels)["secret"]
    ok = c.post("/v1/api_keys", json={"name": "x", "permissions": {"customers": "read"}},
                headers=_bearer(rk))  # fmt: skip
    assert ok.status_code == 200
    more = c.post("/v1/api_keys", json={"name": "x", "permissions": {"customers": "write"}},
                  headers=_bearer(rk))  # fmt: skip
    assert "'customers:write'" in error_of(more, 403)["message"]
    bad = c.post("/v1/api_keys", json={"name": "x", "permissions": {"nope": "write"}},
                 headers=_bearer(clocked.merchant.secret_key))  # fmt: skip
    assert error_of(bad, 400)["param"].startswith("permissions")


def test_ip_allowlist(clocked: Clocked) -> None:
    c = clocked.client()
    rk = _create(c, clocked.merchant.secret_key, permissions={"customers": "read"},
                 allowed_ips=["203.0.113.0/24"])["secret"]  # fmt: skip
    app = create_app(clocked.rt, run_workers=False)
    inside = TestClient(app, client=("203.0.113.7", 4000), raise_server_exceptions=False)
    outside = TestClient(app, client=("198.51.100.1", 4000), raise_server_exceptions=False)
    assert inside.get("/v1/customers", headers=_bearer(rk)).status_code == 200
    assert error_of(outside.get("/v1/customers", headers=_bearer(rk)), 403)["code"] == (
        "ip_not_allowed"
    )


def test_restricted_keys_expire(clocked: Clocked) -> None:
    c = clocked.client()
    at = int(clocked.clock.now().timestamp()) + 600
    rk = _create(c, clocked.merchant.secret_key, permissions={"customers": "read"},
                 expires_at=at)["secret"]  # fmt: skip
    assert c.get("/v1/customers", headers=_bearer(rk)).status_code == 200  # now cached
    clocked.clock.advance(timedelta(seconds=601))
    assert error_of(c.get("/v1/customers", headers=_bearer(rk)), 401)["code"] == ("api_key_expired")


def test_rolling_a_secret_key_keeps_the_old_one_for_the_overlap(clocked: Clocked) -> None:
    c = clocked.client()
    old = clocked.merchant.secret_key
    keys = c.get("/v1/api_keys", headers=_bearer(old)).json()["data"]
    sk_id = next(k["id"] for k in keys if k["type"] == "secret")
    rolled = c.post(f"/v1/api_keys/{sk_id}/roll", data={"expires_in": "3600"},
                    headers=_bearer(old))  # fmt: skip
    assert rolled.status_code == 200, rolled.text
    new = rolled.json()["secret"]
    assert new.startswith("sk_test_")
    assert new != old
    for key in (old, new):
        assert c.get("/v1/customers", headers=_bearer(key)).status_code == 200
    clocked.clock.advance(timedelta(seconds=3599))
    assert c.get("/v1/customers", headers=_bearer(old)).status_code == 200
    clocked.clock.advance(timedelta(seconds=2))
    assert c.get("/v1/customers", headers=_bearer(old)).status_code == 401  # cached or not
    assert c.get("/v1/customers", headers=_bearer(new)).status_code == 200
    assert sweep_once(clocked.rt) == 1
    with clocked.rt.db.engine.connect() as conn:
        revoked = conn.execute(sa.select(ApiKey.revoked_at).where(ApiKey.id == sk_id)).scalar()
        actions = conn.execute(sa.select(AuditEntry.action)).scalars().all()
    assert revoked is not None
    assert {"strongbox.api_key.rolled", "strongbox.api_key.created",
            "strongbox.api_key.expired"} <= set(actions)  # fmt: skip
    assert sweep_once(clocked.rt) == 0


def test_rolling_without_overlap_revokes_at_once(clocked: Clocked) -> None:
    c = clocked.client()
    sk = clocked.merchant.secret_key
    rk = _create(c, sk, permissions={"customers": "read"})
    new = c.post(f"/v1/api_keys/{rk['id']}/roll", headers=_bearer(sk)).json()
    assert new["permissions"] == {"customers": "read"}
    assert new["secret"].startswith("rk_")
    assert c.get("/v1/customers", headers=_bearer(rk["secret"])).status_code == 401
    assert c.get("/v1/customers", headers=_bearer(new["secret"])).status_code == 200
    # a restricted key may not roll the secret key
    strong = _create(c, sk, permissions={"api_keys": "write"})["secret"]
    sk_id = next(k["id"] for k in c.get("/v1/api_keys", headers=_bearer(sk)).json()["data"]
                 if k["type"] == "secret")  # fmt: skip
    error_of(c.post(f"/v1/api_keys/{sk_id}/roll", headers=_bearer(strong)), 403)
    revoke = c.post(f"/v1/api_keys/{new['id']}/revoke", headers=_bearer(sk))
    assert revoke.status_code == 200
    assert revoke.json()["revoked"] is True
    assert c.get("/v1/customers", headers=_bearer(new["secret"])).status_code == 401
