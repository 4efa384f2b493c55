"""The access sweeper loop ends grants and keys by itself: nobody calls anything, the
running loop notices the clock passed their expiry and records it in the audit log."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from auth.conftest import Clocked, clocked, signed_in  # noqa: F401 (the fixture)
from strongbox.audit.models import AuditEntry
from strongbox.auth.operator_models import AccessGrant
from strongbox.workers import access
from support import wait_until


def test_the_running_sweeper_expires_grants(clocked: Clocked) -> None:  # noqa: F811
    user, _ = signed_in(clocked, "s@example.com", "support")
    body = {"role": "administrator", "reason": "incident INC-9 triage", "duration_minutes": 5}
    r = user.post("/operator/access_grants/break_glass", json=body)
    assert r.status_code == 200, r.text
    loop = access.access_loops(clocked.rt)[0]
    loop.interval = 0.05
    loop.start()
    try:
        clocked.clock.advance(timedelta(minutes=5))

        def expired() -> bool:
            with clocked.rt.db.engine.connect() as conn:
                status = conn.execute(sa.select(AccessGrant.status)).scalar_one()
            return status == "expired"

        wait_until(expired, "the sweeper to expire the grant")
    finally:
        loop.stop()
        loop.join(timeout=30)
    with clocked.rt.db.engine.connect() as conn:
        actions = set(conn.execute(sa.select(AuditEntry.action)).scalars())
    assert "strongbox.access_grant.expired" in actions
