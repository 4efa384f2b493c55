"""Requirement 10: audit logs recorded, protected and retained."""

from __future__ import annotations

import fnmatch
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from strongbox.compliance import repository as repo
from strongbox.compliance.controls import FAIL, PASS, CheckContext, Result, control, first

AUDIT_SUBSCRIBER = "audit"
RECENT = timedelta(days=1)
MIN_RETENTION_DAYS = 365
AT_HAND_DAYS = 90


@control(
    "10.2.1",
    "Audit logs are enabled and active for all system components and cardholder data.",
    "the event dispatcher's subscriptions against every webhook event type "
    "(webhooks.schemas.EVENT_TYPES), and the last day's committed events against the audit "
    "entries that name them",
)
def audit_on_for_every_event(ctx: CheckContext) -> Result:
    patterns = [p for p, name in ctx.subscriptions if name == AUDIT_SUBSCRIBER]
    missing = sorted(
        t for t in ctx.event_types if not any(fnmatch.fnmatchcase(t, p) for p in patterns)
    )
    total, unaudited, ids = repo.events_without_audit(ctx.session, ctx.now - RECENT, 20)
    evidence: dict[str, Any] = {
        "event_types": len(ctx.event_types),
        "audit_subscriptions": patterns,
        "event_types_not_audited": missing,
        "events_last_day": total,
        "events_without_audit_entry": unaudited,
        "event_ids": ids,
    }
    if missing or unaudited:
        return Result(
            FAIL,
            f"{len(missing)} event type(s) without an audit subscriber, {unaudited} recent "
            "event(s) without an audit entry",
            evidence,
        )
    return Result(
        PASS,
        f"all {len(ctx.event_types)} event types are audited; {total} event(s) in the last "
        "day, each with its audit entry",
        evidence,
    )


@control(
    "10.3.2",
    "Audit log files are protected to prevent modifications by individuals.",
    "a full verification of the audit log's Merkle tree (audit/verify.py): every leaf, "
    "archive and signed head",
)
def audit_verifies(ctx: CheckContext) -> Result:
    a = ctx.audit()
    evidence = {
        "tree_size": a.tree_size,
        "entries_checked": a.entries_checked,
        "heads_checked": a.heads_checked,
        "problems": first(a.problems),
        "problem_count": len(a.problems),
    }
    if not a.verified:
        return Result(FAIL, f"the audit log does not verify: {a.problems[0]}", evidence)
    return Result(
        PASS,
        f"the audit log verifies: {a.entries_checked} entries, {a.heads_checked} signed heads",
        evidence,
    )


@control(
    "10.3.3",
    "Audit log files are promptly backed up to a place that is difficult to modify.",
    "the external append-only file of signed tree heads (STRONGBOX_AUDIT_HEADS_FILE): it "
    "exists and holds the latest head stored in the database",
)
def heads_anchored(ctx: CheckContext) -> Result:
    a = ctx.audit()
    evidence = {
        "heads_file": str(a.heads_file),
        "heads_in_file": a.heads_in_file,
        "latest_head_size": a.latest_head_size,
        "latest_head_in_file": a.latest_head_in_file,
        "warnings": first(a.warnings),
    }
    if a.tree_size and a.latest_head_size is None:
        return Result(FAIL, "the audit log has entries but no signed head", evidence)
    if a.latest_head_size is not None and not a.latest_head_in_file:
        return Result(FAIL, "the latest signed head is not in the external heads file", evidence)
    return Result(
        PASS,
        f"{a.heads_in_file} signed head(s) anchored outside the database in {a.heads_file.name}",
        evidence,
    )


def _archive_ok(path: str, sha256: str) -> bool:
    p = Path(path)
    if not p.is_file():
        return False
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest() == sha256


@control(
    "10.5.1",
    "Audit log history is retained for at least 12 months, with at least the most recent "
    "three months immediately available for analysis.",
    "STRONGBOX_AUDIT_RETENTION_DAYS, the archives (each file present with its SHA-256) and "
    "that nothing younger than three months was archived",
)
def retention(ctx: CheckContext) -> Result:
    a = ctx.audit()
    archives = repo.archives(ctx.session)
    missing = [x.path for x in archives if not _archive_ok(x.path, x.sha256)]
    too_recent = [
        f"{x.first_index}-{x.end_index}"
        for x in archives
        if x.until > ctx.now - timedelta(days=AT_HAND_DAYS)
    ]
    oldest = repo.oldest_entry(ctx.session)
    evidence = {
        "retention_days": a.retention_days,
        "archives": len(archives),
        "archives_missing_or_altered": first(missing),
        "archived_within_three_months": first(too_recent),
        "oldest_entry_in_database": oldest.isoformat() if oldest else None,
        "archive_dir": str(a.archive_dir),
    }
    problems = []
    if a.retention_days < MIN_RETENTION_DAYS:
        problems.append(f"retention is {a.retention_days} days (< {MIN_RETENTION_DAYS})")
    if missing:
        problems.append(f"{len(missing)} archive file(s) missing or altered")
    if too_recent:
        problems.append(f"{len(too_recent)} archive(s) hold entries of the last three months")
    if problems:
        return Result(FAIL, "; ".join(problems), evidence)
    return Result(
        PASS,
        f"{a.retention_days} days retained ({len(archives)} archive file(s) intact); "
        "the last three months are in the database",
        evidence,
    )
