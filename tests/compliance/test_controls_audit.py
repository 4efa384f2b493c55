"""Requirement 10: every event audited, the log verifies, heads anchored, retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from compliance.conftest import RunControl
from strongbox.audit.models import AuditArchive, AuditEntry
from strongbox.runtime import Runtime


def test_10_2_1_every_event_type_is_audited(runtime: Runtime, check: RunControl) -> None:
    ok = check("10.2.1")
    assert ok["status"] == "pass"
    # Without the audit subscriber, every type is reported.
    bad = check("10.2.1", subscriptions=[("payment_intent.*", "ledger")])
    assert bad["status"] == "fail"
    assert "compliance.control_failed" in bad["evidence"]["event_types_not_audited"]


def test_10_2_1_an_event_without_its_audit_entry_fails(
    api: TestClient, runtime: Runtime, check: RunControl
) -> None:
    r = api.post("/v1/customers", data={"name": "audited"})
    assert r.status_code == 200
    assert check("10.2.1")["evidence"]["events_last_day"] == 1
    with runtime.db.engine.begin() as conn:  # someone removes the entry's link to its event
        conn.execute(sa.update(AuditEntry).values(event_id=None))
    bad = check("10.2.1")
    assert bad["status"] == "fail"
    assert bad["evidence"]["events_without_audit_entry"] == 1


def test_10_3_2_the_log_verifies_until_an_entry_is_edited(
    api: TestClient, runtime: Runtime, check: RunControl
) -> None:
    api.post("/v1/customers", data={"name": "a"})
    runtime.audit.sign(runtime.db)
    ok = check("10.3.2")
    assert ok["status"] == "pass"
    assert ok["evidence"]["entries_checked"] >= 1
    with runtime.db.engine.begin() as conn:
        conn.execute(sa.update(AuditEntry).values(actor="someone-else"))
    bad = check("10.3.2")
    assert bad["status"] == "fail"
    assert bad["evidence"]["problem_count"] >= 1


def test_10_3_3_heads_must_reach_the_external_file(
    api: TestClient, runtime: Runtime, check: RunControl
) -> None:
    api.post("/v1/customers", data={"name": "a"})
    runtime.audit.integrate(runtime.db)
    assert check("10.3.3")["status"] == "fail"  # entries, no signed head yet
    runtime.audit.sign(runtime.db)
    ok = check("10.3.3")
    assert (ok["status"], ok["evidence"]["heads_in_file"]) == ("pass", 1)
    runtime.audit.sink.path.write_text("")  # the anchor lost
    bad = check("10.3.3")
    assert (bad["status"], bad["evidence"]["latest_head_in_file"]) == ("fail", False)


def test_10_5_1_retention_and_archives(runtime: Runtime, check: RunControl) -> None:
    ok = check("10.5.1")
    assert (ok["status"], ok["evidence"]["retention_days"]) == ("pass", 400)
    now = runtime.db.clock.now()
    archive = Path(runtime.settings.data_dir) / "audit_archive" / "audit-0-1.jsonl.gz"
    with runtime.db.unit_of_work() as uow:
        uow.session.add(
            AuditArchive(
                first_index=0,
                end_index=1,
                path=str(archive),
                sha256="0" * 64,
                compact=b"",
                head_size=1,
                created=now,
                until=now - timedelta(days=30),
            )
        )
        uow.commit()
    bad = check("10.5.1")
    assert bad["status"] == "fail"
    assert bad["evidence"]["archives_missing_or_altered"] == [str(archive)]
    assert bad["evidence"]["archived_within_three_months"] == ["0-1"]
