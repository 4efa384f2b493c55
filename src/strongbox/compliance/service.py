"""Running the controls: a report stored and signed (Ed25519, the audit log's key), an event
and a log line for each control that newly fails, and a Prometheus gauge per control.

The checks read in one read-only session; the report, its audit leaf and its events are
written in one unit of work that the edge's call commits (``run`` is the edge's entry point:
it is called by the CLI, the worker loop and tests, never inside another transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from strongbox.audit.heads import Signer, verify_signature
from strongbox.audit.service import canonical
from strongbox.compliance import repository as repo
from strongbox.compliance.controls import CheckContext, Control, registry, run_control
from strongbox.compliance.models import PLATFORM, ComplianceReport, VulnerabilityScan
from strongbox.core.clock import to_unix
from strongbox.core.errors import ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.core.metrics import COMPLIANCE_FAILING
from strongbox.db.uow import Database, UnitOfWork
from strongbox.events.types import RequestContext, raise_event

log = logging.getLogger(__name__)

STANDARD = "PCI DSS v4.0.1"
ContextFactory = Callable[[Session, datetime], CheckContext]
CONTROL_FAILED = "compliance.control_failed"
SIGNATURE_ALG = "Ed25519"


def signed_body(doc: dict[str, Any]) -> bytes:
    """The bytes signed: RFC 8785 canonical JSON of the report without its signature."""
    return canonical({k: v for k, v in doc.items() if k != "signature"})


def render_report(r: ComplianceReport) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": r.id,
        "object": "compliance_report",
        "standard": STANDARD,
        "created": to_unix(r.created),
        "trigger": r.trigger,
        "status": r.status,
        "passed": r.passed,
        "failed": r.failed,
        "not_applicable": r.not_applicable,
        "results": r.results,
    }
    doc["signature"] = {
        "alg": SIGNATURE_ALG,
        "key_id": r.key_id,
        "public_key": r.public_key,
        "value": r.signature,
    }
    return doc


def verify_report(doc: dict[str, Any], trusted_keys: set[str] | None = None) -> bool:
    """True if ``doc`` (a rendered report) carries a valid Ed25519 signature, by one of
    ``trusted_keys`` (base64 public keys) when given."""
    sig = doc.get("signature")
    if not isinstance(sig, dict) or sig.get("alg") != SIGNATURE_ALG:
        return False
    public = str(sig.get("public_key", ""))
    if trusted_keys is not None and public not in trusted_keys:
        return False
    return verify_signature(public, str(sig.get("value", "")), signed_body(doc))


def evaluate(ctx: CheckContext, controls: list[Control] | None = None) -> list[dict[str, Any]]:
    return [run_control(c, ctx) for c in (controls or registry())]


def run(
    db: Database,
    signer: Signer,
    context: ContextFactory,
    *,
    trigger: str,
    controls: list[Control] | None = None,
) -> ComplianceReport:
    """Run every control, then store, sign and announce the report (one transaction)."""
    now = db.clock.now()
    with db.read() as session:
        results = evaluate(context(session, now), controls)
    with db.unit_of_work() as uow:
        report = store_report(uow, signer, results, trigger=trigger, now=now)
        uow.commit()
    return report


def store_report(
    uow: UnitOfWork,
    signer: Signer,
    results: list[dict[str, Any]],
    *,
    trigger: str,
    now: datetime,
) -> ComplianceReport:
    previous = repo.latest_report(uow.session)
    before = {r["control"]: r["status"] for r in (previous.results if previous else [])}
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("pass", "fail")}
    row = ComplianceReport(
        id=new_id("compliance_report"),
        merchant_id=PLATFORM,
        created=now,
        trigger=trigger,
        status="fail" if counts["fail"] else "pass",
        passed=counts["pass"],
        failed=counts["fail"],
        not_applicable=len(results) - counts["pass"] - counts["fail"],
        results=results,
        key_id=signer.key_id,
        public_key=signer.public_key,
        signature="",
    )
    row.signature = signer.sign(signed_body(render_report(row)))
    uow.session.add(row)
    ctx = RequestContext(merchant_id=PLATFORM, actor=f"system:compliance:{trigger}")
    summary = {k: v for k, v in render_report(row).items() if k not in ("results", "signature")}
    raise_event(
        uow, ctx, "strongbox.compliance.report_created", "compliance_report", row.id, summary
    )
    newly = [r for r in results if r["status"] == "fail" and before.get(r["control"]) != "fail"]
    if newly:
        merchants = [PLATFORM, *repo.merchants_subscribed_to(uow.session, CONTROL_FAILED)]
        for r in newly:
            obj = {
                "object": "compliance_control",
                "control": r["control"],
                "requirement": r["requirement"],
                "status": r["status"],
                "summary": r["summary"],
                "report": row.id,
            }
            for merchant in merchants:
                raise_event(
                    uow, ctx, CONTROL_FAILED, "compliance_report", row.id, obj, merchant_id=merchant
                )

    def publish() -> None:
        for r in results:
            COMPLIANCE_FAILING.labels(control=r["control"]).set(1 if r["status"] == "fail" else 0)
        for r in newly:
            log.warning(
                "compliance control %s newly failed: %s (report %s)",
                r["control"],
                r["summary"],
                row.id,
            )

    uow.after_commit(publish)
    return row


def retrieve(session: Session, report_id: str) -> ComplianceReport:
    r = repo.get_report(session, report_id)
    if r is None:
        raise ResourceMissingError(f"No such compliance report: '{report_id}'", param="id")
    return r


def record_scan(
    uow: UnitOfWork,
    *,
    tool: str,
    target: str,
    dependencies: int,
    findings: list[dict[str, Any]],
) -> VulnerabilityScan:
    """Record a finished scan (its time is the unit of work's clock); audited."""
    scan = VulnerabilityScan(
        id=new_id("vulnerability_scan"),
        created=uow.clock.now(),
        tool=tool,
        target=target,
        dependencies=dependencies,
        vulnerable=len(findings),
        findings=findings,
    )
    uow.session.add(scan)
    ctx = RequestContext(merchant_id=PLATFORM, actor="system:compliance")
    raise_event(
        uow,
        ctx,
        "strongbox.compliance.scan_recorded",
        "vulnerability_scan",
        scan.id,
        {"id": scan.id, "tool": tool, "dependencies": dependencies, "vulnerable": len(findings)},
    )
    return scan


def is_due(session: Session, now: datetime, every_hours: float) -> bool:
    last = repo.latest_report(session)
    return last is None or (now - last.created).total_seconds() >= every_hours * 3600
