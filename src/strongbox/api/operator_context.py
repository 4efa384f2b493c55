"""Per-request operator authentication: the session cookie, the second-factor stage, the
CSRF token on every state-changing request, and the route's permission (the same
``route_permissions.enforce`` as API keys) against the operator's role plus active grants.

Cookies are ``Secure; HttpOnly; SameSite=Strict`` on path ``/operator``. The request's unit
of work is the caller's to commit (``operator_uow`` yields it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from fastapi import Request
from starlette.responses import Response

from strongbox.api.context import client_address, get_runtime, request_id
from strongbox.api.route_permissions import enforce, is_self_service
from strongbox.auth import access_grants, sessions
from strongbox.auth.operator_models import Operator, OperatorSession
from strongbox.auth.webauthn_ import RelyingParty
from strongbox.core.errors import AuthenticationError
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.runtime import Runtime

COOKIE_PATH = "/operator"
LOGIN_CSRF_COOKIE = "strongbox_login_csrf"
Stage = Literal["pending", "full"]


@dataclass(frozen=True, slots=True)
class OperatorCall:
    runtime: Runtime
    operator: Operator
    session: OperatorSession
    permissions: frozenset[str]
    ctx: RequestContext


def set_session_cookie(response: Response, token: str, idle: timedelta) -> None:
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=int(idle.total_seconds()),
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(
        sessions.COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )


def idle_of(rt: Runtime) -> timedelta:
    return timedelta(minutes=rt.settings.operator_session_idle_minutes)


def relying_party(rt: Runtime) -> RelyingParty:
    return RelyingParty.from_settings(rt.settings.public_url, rt.settings.webauthn_rp_id)


def csrf_of(request: Request, params: dict[str, Any]) -> str | None:
    value = params.pop("csrf_token", None)
    header = request.headers.get("x-csrf-token")
    return header if header else (value if isinstance(value, str) else None)


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.scope.get("path", "")))


@contextmanager
def operator_uow(
    request: Request, params: dict[str, Any], *, stage: Stage = "full"
) -> Iterator[tuple[UnitOfWork, OperatorCall]]:
    """One unit of work for a signed-in operator's request (see the module docstring)."""
    rt = get_runtime(request)
    with rt.db.unit_of_work() as uow:
        row, op = sessions.resolve(uow, request.cookies.get(sessions.COOKIE), idle_of(rt))
        if request.method not in ("GET", "HEAD"):
            sessions.check_csrf(row, csrf_of(request, params))
        if stage == "full" and row.second_factor_at is None:
            raise AuthenticationError(
                "Verify your second factor first (/operator/login/totp, "
                "/operator/login/recovery_code or /operator/login/webauthn).",
                code="second_factor_required",
            )
        permissions = access_grants.effective_permissions(uow, op)
        template = _route_template(request)
        if not is_self_service(request.method, template):
            enforce(permissions, request.method, template, "operator")
        ctx = RequestContext(
            merchant_id=op.merchant_id,
            actor=f"operator:{op.id}",
            request_id=request_id(request),
            source_ip=client_address(request),
        )
        yield uow, OperatorCall(rt, op, row, permissions, ctx)
