"""Stored reports: signed (Ed25519, the audit key), events for newly failing controls, the
gauge per control, and the audit leaf of every run."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from compliance.conftest import good_probe
from strongbox.audit.models import AuditEntry
from strongbox.compliance import service
from strongbox.compliance.controls import CheckContext
from strongbox.events.models import OutboxEvent
from strongbox.runtime import Runtime
from strongbox.webhooks.schemas import EVENT_TYPES
from strongbox.workers import compliance as wiring


def _run(runtime: Runtime, **settings: Any) -> dict[str, Any]:
    build = wiring.context_for(runtime, probe=False)

    def context(session: Any, now: Any) -> CheckContext:
        ctx = build(session, now)
        ctx.http_probe = good_probe
        if settings:
            ctx.settings = runtime.settings.model_copy(update=settings)
        return ctx

    report = service.run(runtime.db, runtime.audit.signer, context, trigger="test")
    return service.render_report(report)


def _gauge(control: str) -> float | None:
    return REGISTRY.get_sample_value("strongbox_compliance_control_failing", {"control": control})


def _events(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.db.read() as s:
        rows = s.execute(
            sa.select(OutboxEvent.merchant_id, OutboxEvent.type, OutboxEvent.data)
            .where(OutboxEvent.type == service.CONTROL_FAILED)
            .order_by(OutboxEvent.seq)
        ).all()
    return [(m, t, d["object"]["control"]) for m, t, d in rows]


def test_a_report_is_signed_by_the_audit_key_and_tampering_breaks_it(runtime: Runtime) -> None:
    doc = _run(runtime)
    key = runtime.audit.signer.public_key
    assert doc["signature"]["public_key"] == key
    assert service.verify_report(doc, {key})
    assert not service.verify_report(doc, {"b3RoZXIga2V5"})  # not a trusted key
    forged = copy.deepcopy(doc)
    failed = next(r for r in forged["results"] if r["status"] == "fail")
    failed["status"] = "pass"
    assert not service.verify_report(forged)
    assert not service.verify_report({**doc, "signature": None})


def test_newly_failing_controls_raise_one_event_each_then_none(
    runtime: Runtime, api: TestClient, new_merchant: Any
) -> None:
    subscriber = new_merchant("Subscriber")
    r = api.post(  # the merchant of `api` subscribes with '*': platform findings not included
        "/v1/webhook_endpoints", data={"url": "https://hooks.example/a", "enabled_events[]": "*"}
    )
    assert r.status_code == 200, r.text
    r = api.post(
        "/v1/webhook_endpoints",
        data={"url": "https://hooks.example/b", "enabled_events[]": "compliance.control_failed"},
        headers=subscriber.headers,
    )
    assert r.status_code == 200, r.text
    assert "compliance.control_failed" in EVENT_TYPES
    first = _run(runtime)
    assert first["status"] == "fail"
    failing = sorted(r["control"] for r in first["results"] if r["status"] == "fail")
    assert "12.10.1" in failing
    events = _events(runtime)
    assert sorted(c for m, _t, c in events if m == "platform") == failing
    assert sorted(c for m, _t, c in events if m == subscriber.id) == failing
    assert len(events) == 2 * len(failing)  # nobody else
    assert _gauge("12.10.1") == 1.0
    assert _gauge("3.3.1") == 0.0

    _run(runtime)  # still failing: no new event
    assert len(_events(runtime)) == 2 * len(failing)

    fixed = _run(runtime, incident_contact="security@example.com")
    assert next(r for r in fixed["results"] if r["control"] == "12.10.1")["status"] == "pass"
    assert _gauge("12.10.1") == 0.0
    _run(runtime)  # fails again: a new event
    assert [c for m, _t, c in _events(runtime)[-2:]] == ["12.10.1", "12.10.1"]


def test_a_newly_failing_control_is_logged_once(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="strongbox.compliance.service"):
        doc = _run(runtime)
        _run(runtime)
    lines = [r.getMessage() for r in caplog.records if "12.10.1 newly failed" in r.getMessage()]
    assert lines == [
        f"compliance control 12.10.1 newly failed: STRONGBOX_INCIDENT_CONTACT is not set "
        f"(report {doc['id']})"
    ]


def test_every_run_leaves_an_audit_entry(runtime: Runtime) -> None:
    doc = _run(runtime)
    with runtime.db.read() as s:
        actions = s.execute(
            sa.select(AuditEntry.action, AuditEntry.resource_id).where(
                AuditEntry.resource_id == doc["id"]
            )
        ).all()
    kinds = {a for a, _r in actions}
    assert "strongbox.compliance.report_created" in kinds
    assert "compliance.control_failed" in kinds


def test_is_due_after_the_interval(runtime: Runtime) -> None:
    now = runtime.db.clock.now()
    with runtime.db.read() as s:
        assert service.is_due(s, now, 24)
    _run(runtime)
    with runtime.db.read() as s:
        assert not service.is_due(s, runtime.db.clock.now(), 24)
        from datetime import timedelta

        assert service.is_due(s, runtime.db.clock.now() + timedelta(hours=25), 24)
