"""Just-in-time access: an operator asks for a higher role for a reason and a duration; a
*different* operator with ``access_grants:write`` who holds everything the role grants
approves or refuses (two-person rule). An approved grant adds the role's permissions until
``expires_at``: it is ignored from then on (``effective_permissions`` compares the time) and
``sweep_expired`` (a worker loop) marks it expired even if nobody looks.

Break-glass: an operator takes a role at once, without approval, for at most an hour, with a
written reason; it is logged at CRITICAL and raises ``strongbox.access_grant.break_glass``
(the audit log records it; alerting hangs off that event and the log line).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Final

from strongbox.auth import operator_repository as repo
from strongbox.auth import roles
from strongbox.auth.operator_models import AccessGrant, Operator
from strongbox.auth.permissions import allows
from strongbox.core.clock import to_unix
from strongbox.core.errors import InvalidRequestError, PermissionDeniedError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

log = logging.getLogger(__name__)

MIN_REASON: Final = 10
BREAK_GLASS_MAX: Final = timedelta(hours=1)


def render_grant(g: AccessGrant) -> dict[str, Any]:
    return {
        "id": g.id,
        "object": "access_grant",
        "operator": g.operator_id,
        "role": g.role,
        "reason": g.reason,
        "duration": g.duration_seconds,
        "status": g.status,
        "break_glass": g.break_glass,
        "decided_by": g.decided_by,
        "created": to_unix(g.created),
        "expires_at": to_unix(g.expires_at) if g.expires_at else None,
    }


def _event(uow: UnitOfWork, ctx: RequestContext, type_: str, g: AccessGrant) -> None:
    raise_event(uow, ctx, f"strongbox.access_grant.{type_}", "access_grant", g.id, render_grant(g))


def effective_permissions(uow: UnitOfWork, op: Operator) -> frozenset[str]:
    """The operator's role's permissions plus those of grants active right now."""
    out = set(roles.permissions_of(op.role))
    for g in repo.active_grants(uow.session, op.id, uow.clock.now()):
        out |= roles.permissions_of(g.role)
    return frozenset(out)


def _check_request(op: Operator, role: str, reason: str, minutes: int, most: int) -> str:
    roles.check_role(role)
    reason = reason.strip()
    if len(reason) < MIN_REASON or len(reason) > 500:
        raise InvalidRequestError(
            f"Give a reason of {MIN_REASON} to 500 characters.", param="reason"
        )
    if not 1 <= minutes <= most:
        raise InvalidRequestError(f"The duration is 1 to {most} minutes.", param="duration_minutes")
    if not roles.is_elevation(op.role, role):
        raise InvalidRequestError(f"The role {role} grants nothing beyond {op.role}.", param="role")
    return reason


def request(
    uow: UnitOfWork,
    ctx: RequestContext,
    op: Operator,
    role: str,
    reason: str,
    minutes: int,
    max_minutes: int,
) -> AccessGrant:
    reason = _check_request(op, role, reason, minutes, max_minutes)
    g = AccessGrant(
        id=new_id("access_grant"),
        merchant_id=op.merchant_id,
        operator_id=op.id,
        role=role,
        reason=reason,
        duration_seconds=minutes * 60,
        status="pending",
        break_glass=False,
        decided_by=None,
        created=uow.clock.now(),
        decided_at=None,
        expires_at=None,
        ended_at=None,
    )
    uow.session.add(g)
    uow.flush()
    _event(uow, ctx, "requested", g)
    return g


def get(uow: UnitOfWork, merchant_id: str, grant_id: str) -> AccessGrant:
    g = repo.get_grant(uow.session, merchant_id, grant_id)
    if g is None:
        raise ResourceMissingError(f"No such access grant: '{grant_id[:64]}'", param="id")
    return g


def _check_decider(approver: Operator, granted: frozenset[str], g: AccessGrant) -> None:
    if g.status != "pending":
        raise InvalidRequestError(
            f"This request is {g.status}, not pending.", code="access_grant_unexpected_state"
        )
    if approver.id == g.operator_id:
        raise PermissionDeniedError("access_grants:write by another operator", "operator")
    if not allows(granted, "access_grants", "write"):
        raise PermissionDeniedError("access_grants:write", "operator")
    lacking = roles.missing(granted, roles.permissions_of(g.role))
    if lacking:
        raise PermissionDeniedError(lacking[0], "operator")


def approve(
    uow: UnitOfWork,
    ctx: RequestContext,
    approver: Operator,
    granted: frozenset[str],
    g: AccessGrant,
) -> AccessGrant:
    _check_decider(approver, granted, g)
    now = uow.clock.now()
    g.status = "active"
    g.decided_by = approver.id
    g.decided_at = now
    g.expires_at = now + timedelta(seconds=g.duration_seconds)
    uow.flush()
    _event(uow, ctx, "approved", g)
    return g


def refuse(
    uow: UnitOfWork,
    ctx: RequestContext,
    approver: Operator,
    granted: frozenset[str],
    g: AccessGrant,
) -> AccessGrant:
    _check_decider(approver, granted, g)
    g.status = "refused"
    g.decided_by = approver.id
    g.decided_at = uow.clock.now()
    uow.flush()
    _event(uow, ctx, "refused", g)
    return g


def revoke(uow: UnitOfWork, ctx: RequestContext, g: AccessGrant) -> AccessGrant:
    if g.status not in ("pending", "active"):
        raise InvalidRequestError(
            f"This grant is {g.status}.", code="access_grant_unexpected_state"
        )
    g.status = "revoked"
    g.ended_at = uow.clock.now()
    uow.flush()
    _event(uow, ctx, "revoked", g)
    return g


def break_glass(
    uow: UnitOfWork, ctx: RequestContext, op: Operator, role: str, reason: str, minutes: int
) -> AccessGrant:
    most = int(BREAK_GLASS_MAX.total_seconds() // 60)
    reason = _check_request(op, role, reason, minutes, most)
    now = uow.clock.now()
    g = AccessGrant(
        id=new_id("access_grant"),
        merchant_id=op.merchant_id,
        operator_id=op.id,
        role=role,
        reason=reason,
        duration_seconds=minutes * 60,
        status="active",
        break_glass=True,
        decided_by=None,
        created=now,
        decided_at=now,
        expires_at=now + timedelta(minutes=minutes),
        ended_at=None,
    )
    uow.session.add(g)
    uow.flush()
    _event(uow, ctx, "break_glass", g)
    # the alert: operations route CRITICAL lines to a pager (docs/access.md)
    log.critical(
        "BREAK-GLASS: operator %s took role %s for %d minutes (grant %s, merchant %s)",
        op.id,
        role,
        minutes,
        g.id,
        op.merchant_id,
    )
    return g


def list_grants(
    uow: UnitOfWork, merchant_id: str, page: PageRequest, operator_id: str | None
) -> Page[AccessGrant]:
    return repo.list_grants(uow.session, merchant_id, page, operator_id)


def sweep_expired(uow: UnitOfWork, limit: int = 100) -> int:
    """Mark active grants past their expiry as expired (one event each)."""
    rows = repo.due_grants(uow.session, uow.clock.now(), limit)
    for g in rows:
        g.status = "expired"
        g.ended_at = uow.clock.now()
        uow.flush()
        _event(uow, RequestContext(merchant_id=g.merchant_id, actor="system:access_sweeper"),
               "expired", g)  # fmt: skip
    return len(rows)
