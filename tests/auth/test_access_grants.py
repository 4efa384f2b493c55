"""Just-in-time access over HTTP: request, the two-person rule, elevation while active,
expiry by time and by the sweeper, revocation, break-glass with its alert."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from auth.conftest import Clocked, signed_in
from strongbox.audit.models import AuditEntry
from strongbox.workers.access import sweep_once
from support import error_of

REASON = "incident INC-42: refund stuck payments"


def _actions(env: Clocked) -> list[str]:
    with env.rt.db.engine.connect() as conn:
        return list(conn.execute(sa.select(AuditEntry.action)).scalars())


def test_two_person_rule_and_expiry(clocked: Clocked) -> None:
    support, _ = signed_in(clocked, "s@example.com", "support")
    admin, _ = signed_in(clocked, "a@example.com", "administrator")
    assert "operators:read" not in support.get("/operator/session").json()["permissions"]
    asked = support.post("/operator/access_grants", json={
        "role": "administrator", "reason": REASON, "duration_minutes": 30})  # fmt: skip
    assert asked.status_code == 200, asked.text
    gid = asked.json()["id"]
    assert asked.json()["status"] == "pending"
    # nobody approves their own request, even with grant rights
    own = admin.post("/operator/access_grants", json={
        "role": "owner", "reason": REASON, "duration_minutes": 5}).json()["id"]  # fmt: skip
    assert error_of(admin.post(f"/operator/access_grants/{own}/approve"), 403)
    # the requester has no grant rights at all
    assert "'access_grants:write'" in error_of(
        support.post(f"/operator/access_grants/{gid}/approve"), 403)["message"]  # fmt: skip
    ok = admin.post(f"/operator/access_grants/{gid}/approve")
    assert ok.status_code == 200
    assert ok.json()["status"] == "active"
    assert error_of(admin.post(f"/operator/access_grants/{gid}/approve"), 400)
    me = support.get("/operator/session").json()
    assert "operators:read" in me["permissions"]
    assert me["grants"][0]["id"] == gid
    assert support.get("/operator/operators").status_code == 200
    for minutes in (14, 14, 2):  # the session stays alive; the grant runs out
        clocked.clock.advance(timedelta(minutes=minutes))
        support.get("/operator/session")
        admin.get("/operator/session")
    assert error_of(support.get("/operator/operators"), 403)  # expired by time alone
    assert sweep_once(clocked.rt) == 1
    listing = admin.get("/operator/access_grants").json()["data"]
    assert {g["id"]: g["status"] for g in listing}[gid] == "expired"
    assert {"strongbox.access_grant.requested", "strongbox.access_grant.approved",
            "strongbox.access_grant.expired"} <= set(_actions(clocked))  # fmt: skip


def test_refuse_and_revoke(clocked: Clocked) -> None:
    dev, _ = signed_in(clocked, "d@example.com", "developer")
    owner, _ = signed_in(clocked, "o@example.com", "owner")
    body = {"role": "administrator", "reason": REASON, "duration_minutes": 10}
    first = dev.post("/operator/access_grants", json=body).json()["id"]
    assert owner.post(f"/operator/access_grants/{first}/refuse").json()["status"] == "refused"
    second = dev.post("/operator/access_grants", json=body).json()["id"]
    owner.post(f"/operator/access_grants/{second}/approve")
    assert dev.get("/operator/operators").status_code == 200
    assert owner.post(f"/operator/access_grants/{second}/revoke").json()["status"] == "revoked"
    assert error_of(dev.get("/operator/operators"), 403)
    # a developer sees only their own requests
    mine = dev.get("/operator/access_grants").json()["data"]
    assert {g["id"] for g in mine} == {first, second}


def test_requests_are_bounded(clocked: Clocked) -> None:
    dev, _ = signed_in(clocked, "b@example.com", "developer")
    cases = [
        ({"role": "administrator", "reason": "short", "duration_minutes": 5}, "reason"),
        ({"role": "administrator", "reason": REASON, "duration_minutes": 481}, "duration_minutes"),
        ({"role": "view_only", "reason": REASON, "duration_minutes": 5}, "role"),
        ({"role": "superuser", "reason": REASON, "duration_minutes": 5}, "role"),
    ]
    for body, param in cases:
        assert error_of(dev.post("/operator/access_grants", json=body), 400)["param"] == param


def test_break_glass_is_immediate_and_alerts(
    clocked: Clocked, caplog: pytest.LogCaptureFixture
) -> None:
    dev, _ = signed_in(clocked, "g@example.com", "developer")
    no_reason = dev.post("/operator/access_grants/break_glass",
                         json={"role": "owner", "reason": "", "duration_minutes": 5})  # fmt: skip
    assert error_of(no_reason, 400)
    body = {"role": "owner", "reason": REASON, "duration_minutes": 61}
    too_long = dev.post("/operator/access_grants/break_glass", json=body)
    assert error_of(too_long, 400)["param"] == "duration_minutes"
    with caplog.at_level(logging.CRITICAL, logger="strongbox.auth.access_grants"):
        r = dev.post("/operator/access_grants/break_glass",
                     json={"role": "owner", "reason": REASON, "duration_minutes": 10})  # fmt: skip
    assert r.status_code == 200
    assert r.json()["status"] == "active"
    assert r.json()["break_glass"]
    assert any("BREAK-GLASS" in rec.getMessage() for rec in caplog.records)
    assert "strongbox.access_grant.break_glass" in _actions(clocked)
    assert dev.get("/operator/operators").status_code == 200
    clocked.clock.advance(timedelta(minutes=10))
    assert error_of(dev.get("/operator/operators"), 403)
