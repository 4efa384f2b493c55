"""The control registry: one small check function per PCI DSS v4.0.1 requirement.

A check reads what it needs from a ``CheckContext`` and returns a ``Result``: ``pass``,
``fail`` or ``not_applicable``, with evidence an assessor can follow (what was looked at,
counts, ids). Evidence never holds a secret value: no PAN digits, no key material.
``CONTROLS`` is the one table: the runner, the report and docs/compliance.md read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from strongbox.core.settings import Settings

Status = Literal["pass", "fail", "not_applicable"]
PASS: Status = "pass"  # noqa: S105 - a result, not a password
FAIL: Status = "fail"
NOT_APPLICABLE: Status = "not_applicable"


@dataclass(frozen=True, slots=True)
class Result:
    status: Status
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """What the public API answered in-process (6.4.1): one ordinary request's headers, one
    over TLS, and the status of a body one byte over the limit."""

    headers: Mapping[str, str]
    tls_headers: Mapping[str, str]
    oversized_status: int
    max_body_bytes: int


@dataclass(frozen=True, slots=True)
class KeyState:
    """A vault key as ``KeyManager.list_keys`` reports it (no key material)."""

    kind: str
    version: int
    status: str
    age_days: int
    overdue: bool


@dataclass(frozen=True, slots=True)
class AuditState:
    """The audit log's verification and where its signed heads are anchored (10.3, 10.5.1)."""

    verified: bool
    tree_size: int
    entries_checked: int
    heads_checked: int
    problems: list[str]
    warnings: list[str]
    heads_file: Path
    heads_in_file: int
    latest_head_size: int | None
    latest_head_in_file: bool
    archive_dir: Path
    retention_days: int


@dataclass
class CheckContext:
    """Everything a check may read; the edge builds it (``compliance.tasks.build_context``)."""

    session: Session
    engine: Engine
    settings: Settings
    now: datetime
    event_types: frozenset[str]
    subscriptions: list[tuple[str, str]]  # (pattern, subscriber name) of the dispatcher
    keys: Callable[[], list[KeyState]]
    audit: Callable[[], AuditState]
    http_probe: Callable[[], HttpProbe] | None = None
    log_dirs: list[Path] = field(default_factory=list)


Check = Callable[[CheckContext], Result]


@dataclass(frozen=True, slots=True)
class Control:
    id: str
    requirement: str  # the requirement's wording, short
    check: Check
    looks_at: str  # what the check reads, for docs/compliance.md


CONTROLS: list[Control] = []


def control(id_: str, requirement: str, looks_at: str) -> Callable[[Check], Check]:
    """Register a check under a requirement number (in the order of the standard)."""

    def register(fn: Check) -> Check:
        if any(c.id == id_ for c in CONTROLS):
            raise ValueError(f"control {id_} is registered twice")
        CONTROLS.append(Control(id_, requirement, fn, looks_at))
        return fn

    return register


def _key(c: Control) -> list[int]:
    return [int(p) for p in c.id.split(".")]


def registry() -> list[Control]:
    """Every control, in requirement order (importing the check modules registers them)."""
    from strongbox.compliance import checks_audit, checks_data, checks_keys, checks_ops  # noqa: F401

    return sorted(CONTROLS, key=_key)


def run_control(c: Control, ctx: CheckContext) -> dict[str, Any]:
    """One control's result as stored in a report; a check that raises is a failure (the
    control could not be shown to hold), with the exception's type, never its message."""
    try:
        r = c.check(ctx)
    except Exception as exc:  # noqa: BLE001 - an unverifiable control fails, the run goes on
        r = Result(FAIL, f"the check could not run ({type(exc).__name__})", {})
    return {
        "control": c.id,
        "requirement": c.requirement,
        "status": r.status,
        "summary": r.summary,
        "evidence": dict(r.evidence),
    }


def first(items: Iterable[Any], n: int = 20) -> list[Any]:
    """At most ``n`` items for evidence (counts carry the rest)."""
    out: list[Any] = []
    for item in items:
        if len(out) >= n:
            break
        out.append(item)
    return out
