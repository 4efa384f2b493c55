"""The compliance checks wired to a running instance: the context the checks read (keys,
audit log, dispatcher, the API probed in-process), the optional dependency scan, and the
daily run in the workers (issue 18, docs/compliance.md)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from strongbox.audit.heads import latest_head
from strongbox.audit.verify import VerifyReport
from strongbox.compliance import service
from strongbox.compliance.controls import AuditState, CheckContext, HttpProbe, KeyState
from strongbox.compliance.models import ComplianceReport
from strongbox.compliance.vulnscan import NoScan, ScanOutcome, pip_audit
from strongbox.webhooks.schemas import EVENT_TYPES

if TYPE_CHECKING:
    from strongbox.runtime import Runtime

log = logging.getLogger(__name__)


async def _call(app: Any, method: str, path: str, *, tls: bool, body: bytes = b"") -> Any:
    """One request to an ASGI app in-process: ``(status, headers)`` of its response."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https" if tls else "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"compliance.invalid"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 9),
        "server": ("compliance.invalid", 443 if tls else 80),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    started: dict[str, Any] = {}
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    done.set()
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in started.get("headers", [])}
    return int(started.get("status", 0)), headers


def http_probe(rt: Runtime) -> HttpProbe:
    """Call the API in-process (no socket, no workers): an unauthenticated request (its
    error response carries the same headers as any other), the same over TLS, and a body
    one byte over the limit."""
    from strongbox.api.app import create_app

    app = create_app(rt, run_workers=False)
    limit = rt.settings.max_body_bytes

    async def probe() -> HttpProbe:
        _s, plain = await _call(app, "GET", "/v1/compliance/reports", tls=False)
        _s, tls = await _call(app, "GET", "/v1/compliance/reports", tls=True)
        big, _h = await _call(
            app, "POST", "/v1/payment_intents", tls=False, body=b"a" * (limit + 1)
        )
        return HttpProbe(headers=plain, tls_headers=tls, oversized_status=big, max_body_bytes=limit)

    return asyncio.run(probe())


def audit_state(rt: Runtime) -> AuditState:
    try:
        report = rt.audit.verify(rt.db)
    except (OSError, ValueError) as exc:  # an archive that cannot be read: not verified
        report = VerifyReport()
        report.bad(None, f"verification stopped: {type(exc).__name__} reading the log")
    sink = rt.audit.sink
    in_file = {(h.tree_size, h.root_hash) for _line, h in sink.read() if h is not None}
    with rt.db.read() as session:
        head = latest_head(session)
    return AuditState(
        verified=report.ok,
        tree_size=report.tree_size,
        entries_checked=report.entries_checked,
        heads_checked=report.heads_checked,
        problems=list(report.problems),
        warnings=list(report.warnings),
        heads_file=sink.path,
        heads_in_file=len(in_file),
        latest_head_size=head.tree_size if head else None,
        latest_head_in_file=head is not None and (head.tree_size, head.root_hash) in in_file,
        archive_dir=rt.audit.archive_dir,
        retention_days=rt.audit.retention_days,
    )


def key_states(rt: Runtime, session: Session, now: datetime) -> list[KeyState]:
    return [
        KeyState(
            kind=i.kind, version=i.version, status=i.status, age_days=i.age_days, overdue=i.overdue
        )
        for i in rt.vault.keys.list_keys(session, now)
    ]


def context_for(rt: Runtime, *, probe: bool = True) -> service.ContextFactory:
    def build(session: Session, now: datetime) -> CheckContext:
        keys = functools.cache(lambda: key_states(rt, session, now))
        audit = functools.cache(lambda: audit_state(rt))
        return CheckContext(
            session=session,
            engine=rt.db.engine,
            settings=rt.settings,
            now=now,
            event_types=EVENT_TYPES,
            subscriptions=rt.dispatcher.subscriptions(),
            keys=keys,
            audit=audit,
            http_probe=(lambda: http_probe(rt)) if probe else None,
            log_dirs=[rt.settings.data_dir],
        )

    return build


def scan(rt: Runtime, lock: Path | None = None) -> ScanOutcome | NoScan:
    """Run pip-audit (outside any transaction) and record the scan when it ran."""
    target = lock or rt.settings.compliance_lock_file or Path("requirements/lock.txt")
    outcome = pip_audit(target)
    if isinstance(outcome, ScanOutcome):
        with rt.db.unit_of_work() as uow:
            service.record_scan(
                uow,
                tool=outcome.tool,
                target=outcome.target,
                dependencies=outcome.dependencies,
                findings=outcome.findings,
            )
            uow.commit()
    else:
        log.info("no dependency scan: %s", outcome.reason)
    return outcome


def check(rt: Runtime, *, trigger: str, probe: bool = True) -> ComplianceReport:
    return service.run(rt.db, rt.audit.signer, context_for(rt, probe=probe), trigger=trigger)


def run_if_due(rt: Runtime) -> bool:
    """A scan and a run when the last report is older than STRONGBOX_COMPLIANCE_CHECK_HOURS."""
    now = rt.db.clock.now()
    with rt.db.read() as session:
        due = service.is_due(session, now, rt.settings.compliance_check_hours)
    if due:
        scan(rt)
        check(rt, trigger="worker")
    return due


def daily_once(rt: Runtime, *, delay_seconds: float = 600.0) -> Callable[[], int]:
    """The worker loop's body: nothing for ``delay_seconds`` after start, then
    ``run_if_due`` on every pass."""
    started = time.monotonic()

    def once() -> int:
        if time.monotonic() - started >= delay_seconds:
            run_if_due(rt)
        return 0

    return once
