"""Operators over HTTP: password, second factor, lockout, replay, idle sessions, CSRF,
cookies, the HTML form, recovery codes, and the audit events each step leaves."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from auth.conftest import PASSWORD, Clocked, enroll_totp, sign_in, signed_in
from strongbox.audit.models import AuditEntry
from strongbox.auth.operator_models import Operator
from support import error_of


def _events(env: Clocked, prefix: str) -> list[str]:
    with env.rt.db.engine.connect() as conn:
        rows = conn.execute(sa.select(AuditEntry.action)).scalars().all()
    return [r for r in rows if r.startswith(prefix)]


def test_sign_in_needs_a_second_factor_and_sets_strict_cookies(clocked: Clocked) -> None:
    clocked.operator("dev@example.com")
    c = clocked.client()
    r = c.post("/operator/login", json={"email": "dev@example.com", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["second_factor"] == "enroll"
    cookie = r.headers["set-cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/operator"):
        assert flag.lower() in cookie.lower(), cookie
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    # pending: nothing but the second factor
    assert error_of(c.get("/operator/session"), 401)["code"] == "second_factor_required"
    seed, codes = enroll_totp(c, clocked)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    with clocked.rt.db.engine.connect() as conn:
        sealed = conn.execute(sa.select(Operator.totp_seed_sealed)).scalar_one()
    assert seed.encode() not in sealed  # sealed at rest under the vault's key
    me = c.get("/operator/session").json()
    assert me["operator"]["two_factor"]["totp"] is True
    assert "api_keys:write" in me["permissions"]
    assert PASSWORD not in str(_events(clocked, "strongbox.operator"))
    assert "strongbox.operator.logged_in" in _events(clocked, "strongbox.operator")
    assert "strongbox.operator.factor_added" in _events(clocked, "strongbox.operator")


def test_totp_codes_are_single_use(clocked: Clocked) -> None:
    c, seed = signed_in(clocked, "a@example.com")
    c.post("/operator/logout")
    clocked.clock.advance(timedelta(seconds=30))
    sign_in(c, "a@example.com")
    code = clocked.code(seed)
    assert c.post("/operator/login/totp", json={"code": code}).status_code == 200
    c2 = clocked.client()
    sign_in(c2, "a@example.com")
    replay = c2.post("/operator/login/totp", json={"code": code})
    assert error_of(replay, 401)["code"] == "second_factor_invalid"
    # an earlier step's code (within the drift window) is a replay too
    older = clocked.code(seed, -1)
    assert c2.post("/operator/login/totp", json={"code": older}).status_code == 401
    assert "totp" in str(_events(clocked, "strongbox.operator.login_failed")) or _events(
        clocked, "strongbox.operator.login_failed"
    )


def test_recovery_codes_work_once(clocked: Clocked) -> None:
    clocked.operator("r@example.com")
    c = clocked.client()
    sign_in(c, "r@example.com")
    _, codes = enroll_totp(c, clocked)
    c2 = clocked.client()
    sign_in(c2, "r@example.com")
    assert c2.post("/operator/login/recovery_code", json={"code": codes[0]}).status_code == 200
    assert c2.get("/operator/session").status_code == 200
    c3 = clocked.client()
    sign_in(c3, "r@example.com")
    again = c3.post("/operator/login/recovery_code", json={"code": codes[0]})
    assert error_of(again, 401)["code"] == "second_factor_invalid"


def test_ten_failures_lock_the_account_for_thirty_minutes(clocked: Clocked) -> None:
    clocked.operator("l@example.com")
    c = clocked.client()
    for _ in range(9):
        r = c.post("/operator/login", json={"email": "l@example.com", "password": "x" * 12})
        assert error_of(r, 401)["code"] == "login_failed"
    tenth = c.post("/operator/login", json={"email": "l@example.com", "password": "y" * 12})
    assert error_of(tenth, 401)["code"] == "account_locked"
    # locked: even the right password is refused
    right = c.post("/operator/login", json={"email": "l@example.com", "password": PASSWORD})
    assert error_of(right, 401)["code"] == "account_locked"
    clocked.clock.advance(timedelta(minutes=29))
    still = c.post("/operator/login", json={"email": "l@example.com", "password": PASSWORD})
    assert error_of(still, 401)["code"] == "account_locked"
    clocked.clock.advance(timedelta(minutes=1, seconds=1))
    assert sign_in(c, "l@example.com")["second_factor"] == "enroll"
    assert len(_events(clocked, "strongbox.operator.login_failed")) == 10
    assert _events(clocked, "strongbox.operator.locked_out") == ["strongbox.operator.locked_out"]


def test_unknown_email_and_wrong_password_look_alike(clocked: Clocked) -> None:
    clocked.operator("k@example.com")
    c = clocked.client()
    a = error_of(c.post("/operator/login", json={"email": "k@example.com", "password": "n" * 12}))
    b = error_of(c.post("/operator/login", json={"email": "z@example.com", "password": "n" * 12}))
    assert a == b


def test_sessions_end_after_fifteen_idle_minutes(clocked: Clocked) -> None:
    c, _ = signed_in(clocked, "i@example.com")
    clocked.clock.advance(timedelta(minutes=14, seconds=59))
    assert c.get("/operator/session").status_code == 200  # activity moves the deadline
    clocked.clock.advance(timedelta(minutes=14, seconds=59))
    assert c.get("/operator/session").status_code == 200
    clocked.clock.advance(timedelta(minutes=15))
    assert error_of(c.get("/operator/session"), 401)["code"] == "session_invalid"
    clocked.clock.advance(timedelta(seconds=1))
    assert c.get("/operator/session").status_code == 401  # dead for good


def test_state_changes_need_the_csrf_token(clocked: Clocked) -> None:
    c, _ = signed_in(clocked, "c@example.com")
    token = c.headers.pop("X-CSRF-Token")
    r = c.post("/operator/access_grants", json={"role": "owner", "reason": "x" * 20,
                                                "duration_minutes": 5})  # fmt: skip
    assert error_of(r, 403)["code"] == "csrf_token_invalid"
    c.headers["X-CSRF-Token"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert c.post("/operator/logout").status_code == 403
    c.headers["X-CSRF-Token"] = token
    assert c.post("/operator/logout").status_code == 200
    assert c.get("/operator/session").status_code == 401


def test_the_html_form_signs_in_with_csrf(clocked: Clocked) -> None:
    clocked.operator("f@example.com")
    c0 = clocked.client()
    sign_in(c0, "f@example.com")
    seed, _ = enroll_totp(c0, clocked)
    clocked.clock.advance(timedelta(seconds=30))
    c = clocked.client()
    page = c.get("/operator/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = c.post("/operator/login", data={"email": "f@example.com", "password": PASSWORD,
                                             "csrf_token": "forged"})  # fmt: skip
    assert forged.status_code == 403
    r = c.post("/operator/login", data={"email": "f@example.com", "password": PASSWORD,
                                        "csrf_token": csrf.group(1)})  # fmt: skip
    assert r.status_code == 200
    assert 'action="/operator/login/code"' in r.text
    session_csrf = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert session_csrf is not None
    done = c.post("/operator/login/code", data={"code": clocked.code(seed),
                  "csrf_token": session_csrf.group(1)}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert c.get("/operator/session").status_code == 200


def test_weak_passwords_are_refused_at_invitation(clocked: Clocked) -> None:
    from strongbox.events.types import RequestContext

    admin, _ = signed_in(clocked, "owner@example.com", "owner")
    inv = admin.post("/operator/operators", json={"email": "new@example.com", "role": "support"})
    assert inv.status_code == 200, inv.text
    token = inv.json()["invitation_token"]
    c = clocked.client()
    for weak in ("short", "Password1234!", "qwertyuiop12", "aaaaaaaaaaaaaa", "new@example.com1"):
        r = c.post("/operator/invitations/accept", json={"token": token, "password": weak})
        assert r.status_code == 400, (weak, r.text)
        assert weak not in r.text
    ok = c.post("/operator/invitations/accept", json={"token": token, "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["status"] == "active"
    again = c.post("/operator/invitations/accept", json={"token": token, "password": PASSWORD})
    assert error_of(again, 400)["code"] == "invitation_invalid"
    with clocked.rt.db.engine.connect() as conn:
        stored = conn.execute(sa.select(Operator.password_hash).where(
            Operator.email == "new@example.com")).scalar_one()  # fmt: skip
    assert stored.startswith("$argon2id$")
    del RequestContext


def test_disabled_operators_are_signed_out(clocked: Clocked) -> None:
    admin, _ = signed_in(clocked, "admin@example.com", "administrator")
    user, _ = signed_in(clocked, "u@example.com", "support")
    team = admin.get("/operator/operators").json()["data"]
    uid = next(o["id"] for o in team if o["email"] == "u@example.com")
    assert admin.post(f"/operator/operators/{uid}/disable").status_code == 200
    assert user.get("/operator/session").status_code == 401
    r = user.post("/operator/login", json={"email": "u@example.com", "password": PASSWORD})
    assert error_of(r, 401)["code"] == "login_failed"
    assert _events(clocked, "strongbox.operator.disabled")
