"""The operator surface, part 2: just-in-time access grants and team management.

``/operator/access_grants``: any signed-in operator asks for a role (``POST``), takes
break-glass access (``POST …/break_glass``) and lists their own requests (everyone's with
``access_grants:read``); approving, refusing and revoking need ``access_grants:write`` (and
approving, a different operator: ``auth/access_grants.py``). ``/operator/operators`` lists,
invites, changes roles, disables and resets second factors (``operators:read``/``:write``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import params_of
from strongbox.api.operator_context import operator_uow
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import page_of
from strongbox.api.security import operator_route
from strongbox.auth import access_grants as grants
from strongbox.auth import operator_repository as repo
from strongbox.auth import operators
from strongbox.auth.operator_schemas import (
    AccessRequestParams,
    InviteParams,
    ListGrantsParams,
    RoleParams,
)
from strongbox.auth.permissions import allows
from strongbox.core.params import ListParams, Params, validate_params
from strongbox.payments.schemas import render_list


class NoParams(Params):
    pass


router = APIRouter(prefix="/operator", tags=["operator"], include_in_schema=False)


def _grant(body: Any) -> Response:
    return json_response(200, dumps(grants.render_grant(body)))


@router.get("/access_grants")
@operator_route
def list_access_grants(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params) as (uow, call):
        p = validate_params(ListGrantsParams, params)
        mine = None if allows(call.permissions, "access_grants", "read") else call.operator.id
        page = grants.list_grants(uow, call.operator.merchant_id, page_of(p), mine)
        body = render_list(
            "/operator/access_grants", [grants.render_grant(g) for g in page.data], page.has_more
        )
        uow.commit()
    return json_response(200, dumps(body))


@router.post("/access_grants")
@operator_route
def request_access(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params) as (uow, call):
        p = validate_params(AccessRequestParams, params)
        g = grants.request(
            uow,
            call.ctx,
            call.operator,
            p.role,
            p.reason,
            p.duration_minutes,
            call.runtime.settings.access_grant_max_minutes,
        )
        uow.commit()
        return _grant(g)


@router.post("/access_grants/break_glass")
@operator_route
def break_glass(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params) as (uow, call):
        p = validate_params(AccessRequestParams, params)
        g = grants.break_glass(uow, call.ctx, call.operator, p.role, p.reason, p.duration_minutes)
        uow.commit()
        return _grant(g)


def _decide(request: Request, params: dict[str, Any], grant_id: str, decision: str) -> Response:
    with operator_uow(request, params) as (uow, call):
        validate_params(NoParams, params)
        g = grants.get(uow, call.operator.merchant_id, grant_id)
        if decision == "approve":
            grants.approve(uow, call.ctx, call.operator, call.permissions, g)
        elif decision == "refuse":
            grants.refuse(uow, call.ctx, call.operator, call.permissions, g)
        else:
            grants.revoke(uow, call.ctx, g)
        uow.commit()
        return _grant(g)


@router.post("/access_grants/{grant_id}/approve")
@operator_route
def approve_access(
    grant_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    return _decide(request, params, grant_id, "approve")


@router.post("/access_grants/{grant_id}/refuse")
@operator_route
def refuse_access(
    grant_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    return _decide(request, params, grant_id, "refuse")


@router.post("/access_grants/{grant_id}/revoke")
@operator_route
def revoke_access(
    grant_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    return _decide(request, params, grant_id, "revoke")


@router.get("/operators")
@operator_route
def list_team(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params) as (uow, call):
        p = validate_params(ListParams, params)
        page = repo.list_operators(uow.session, call.operator.merchant_id, page_of(p))
        body = render_list(
            "/operator/operators",
            [operators.render_operator(o) for o in page.data],
            page.has_more,
        )
        uow.commit()
    return json_response(200, dumps(body))


@router.post("/operators")
@operator_route
def invite_operator(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    """Invite a person; the invitation token is in this response only."""
    with operator_uow(request, params) as (uow, call):
        p = validate_params(InviteParams, params)
        operators.check_can_assign(call.operator.role, p.role)
        hours = call.runtime.settings.operator_invitation_hours
        op, token = operators.invite(uow, call.ctx, p.email, p.role, timedelta(hours=hours))
        body = {**operators.render_operator(op), "invitation_token": token.reveal()}
        uow.commit()
    return json_response(200, dumps(body))


@router.post("/operators/{operator_id}")
@operator_route
def change_role(
    operator_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    with operator_uow(request, params) as (uow, call):
        p = validate_params(RoleParams, params)
        op = operators.get(uow, call.operator.merchant_id, operator_id)
        operators.change_role(uow, call.ctx, call.operator.role, op, p.role)
        body = operators.render_operator(op)
        uow.commit()
    return json_response(200, dumps(body))


@router.post("/operators/{operator_id}/disable")
@operator_route
def disable_operator(
    operator_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    with operator_uow(request, params) as (uow, call):
        op = operators.get(uow, call.operator.merchant_id, operator_id)
        operators.disable(uow, call.ctx, op)
        body = operators.render_operator(op)
        uow.commit()
    return json_response(200, dumps(body))


@router.post("/operators/{operator_id}/reset_2fa")
@operator_route
def reset_operator_2fa(
    operator_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    with operator_uow(request, params) as (uow, call):
        op = operators.get(uow, call.operator.merchant_id, operator_id)
        operators.reset_2fa(uow, call.ctx, op)
        body = operators.render_operator(op)
        uow.commit()
    return json_response(200, dumps(body))
