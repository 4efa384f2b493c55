"""The operator surface, part 1: signing in and second factors (``/operator/…``).

Sign-in is two steps: the password (``POST /operator/login``, JSON or the HTML form of
``GET /operator/login``) starts a *pending* session; a TOTP code, a recovery code or a
security key completes it. An operator without any second factor enrolls one with the
pending session (TOTP or WebAuthn), which completes the sign-in; TOTP enrollment returns the
recovery codes, once. Every route but the password step needs the session cookie and, when it
changes state, the CSRF token. These routes are not in the public API's OpenAPI document
(docs/access.md describes them).
"""

from __future__ import annotations

import hmac
import html
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from strongbox.api.context import client_address, get_runtime, params_of
from strongbox.api.operator_context import (
    LOGIN_CSRF_COOKIE,
    clear_session_cookie,
    idle_of,
    operator_uow,
    relying_party,
    set_session_cookie,
)
from strongbox.api.responses import dumps, json_response
from strongbox.api.security import operator_route
from strongbox.auth import access_grants, operators, sessions, totp
from strongbox.auth import operator_repository as repo
from strongbox.auth import webauthn_ as wa
from strongbox.auth.operator_schemas import (
    AcceptInvitationParams,
    CodeParams,
    CredentialParams,
    LoginParams,
)
from strongbox.core.errors import AuthenticationError, PermissionError_
from strongbox.core.ids import random_token
from strongbox.core.params import validate_params
from strongbox.core.secret import Secret

router = APIRouter(prefix="/operator", tags=["operator"], include_in_schema=False)

_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strongbox sign-in</title></head>
<body><main><h1>Sign in</h1>{message}
<form method="post" action="{action}">
<input type="hidden" name="csrf_token" value="{csrf}">
{fields}
<button type="submit">Continue</button></form></main></body></html>"""
_LOGIN_FIELDS = """<label>Email <input name="email" type="email" autocomplete="username"
required></label><label>Password <input name="password" type="password"
autocomplete="current-password" required minlength="12"></label>"""
_CODE_FIELDS = """<label>Authenticator code or recovery code <input name="code"
autocomplete="one-time-code" required></label>"""


def _is_form(request: Request) -> bool:
    return "application/json" not in request.headers.get("content-type", "")


def _page(action: str, csrf: str, fields: str, message: str = "", status: int = 200) -> Response:
    text = f"<p role=alert>{html.escape(message)}</p>" if message else ""
    body = _FORM.format(action=action, csrf=html.escape(csrf), fields=fields, message=text)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/login")
@operator_route
def login_form(request: Request) -> Response:
    """The HTML sign-in form, with a CSRF token bound to a cookie (double submit)."""
    csrf = random_token(43)
    response = _page("/operator/login", csrf, _LOGIN_FIELDS)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, csrf, path="/operator", secure=True, httponly=True, samesite="strict"
    )
    return response


def _session_body(op_id: str, csrf: Secret[str], enrolled: bool) -> dict[str, Any]:
    return {
        "object": "operator_session",
        "operator": op_id,
        "second_factor": "required" if enrolled else "enroll",
        "csrf_token": csrf.reveal(),
    }


@router.post("/login")
@operator_route
def login(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    """The password step (JSON, or the form with its CSRF token)."""
    rt = get_runtime(request)
    form = _is_form(request)
    if form:
        supplied = params.pop("csrf_token", None)
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if (
            not isinstance(supplied, str)
            or not expected
            or not hmac.compare_digest(supplied.encode(), expected.encode())
        ):
            raise PermissionError_(
                "Missing or wrong CSRF token: reload the sign-in page.",
                code="csrf_token_invalid",
            )
    p = validate_params(LoginParams, params)
    with rt.db.unit_of_work() as uow:
        result = operators.login(uow, p.email, Secret(p.password), client_address(request))
        enrolled = result.operator is not None and operators.has_second_factor(uow, result.operator)
        uow.commit()
    if result.error is not None or result.tokens is None or result.operator is None:
        error = result.error or AuthenticationError("Invalid email or password.")
        if form:
            csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
            return _page("/operator/login", csrf, _LOGIN_FIELDS, error.message, error.status)
        raise error
    body = _session_body(result.operator.id, result.tokens.csrf, enrolled)
    response: Response
    if form:
        csrf = result.tokens.csrf.reveal()
        response = _page("/operator/login/code", csrf, _CODE_FIELDS)
    else:
        response = json_response(200, dumps(body))
    set_session_cookie(response, result.tokens.token.reveal(), idle_of(rt))
    return response


def _second_step(request: Request, params: dict[str, Any], kind: str) -> Response:
    form = _is_form(request)
    posted_csrf = str(params.get("csrf_token") or request.headers.get("x-csrf-token") or "")
    with operator_uow(request, params, stage="pending") as (uow, call):
        p = validate_params(CodeParams, params)
        op, row = call.operator, call.session
        sealer = call.runtime.sealer
        if kind == "either":  # the form's one field takes either
            kind = "totp" if len(p.code.strip()) == 6 else "recovery_code"
        if kind == "totp":
            ok = operators.verify_totp(uow, sealer, op, row, p.code)
        else:
            ok = operators.use_recovery_code(uow, op, row, p.code)
        uow.commit()
    if not ok:
        error = AuthenticationError(
            "The code is wrong, expired or already used.", code="second_factor_invalid"
        )
        if form:
            return _page("/operator/login/code", posted_csrf, _CODE_FIELDS, error.message, 401)
        raise error
    if form:
        return RedirectResponse("/operator/session", status_code=303)
    return json_response(200, dumps({"object": "operator_session", "second_factor": "verified"}))


@router.post("/login/totp")
@operator_route
def login_totp(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    return _second_step(request, params, "totp")


@router.post("/login/recovery_code")
@operator_route
def login_recovery_code(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    return _second_step(request, params, "recovery_code")


@router.post("/login/code")
@operator_route
def login_code(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    """The HTML form's second step: a TOTP code or a recovery code."""
    return _second_step(request, params, "either")


@router.post("/login/webauthn/options")
@operator_route
def login_webauthn_options(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    with operator_uow(request, params, stage="pending") as (uow, call):
        options = wa.authentication_options(
            uow, relying_party(call.runtime), call.operator, call.session
        )
        uow.commit()
    return json_response(200, dumps(options))


@router.post("/login/webauthn")
@operator_route
def login_webauthn(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params, stage="pending") as (uow, call):
        p = validate_params(CredentialParams, params)
        ok = wa.authenticate(
            uow, relying_party(call.runtime), call.operator, call.session, p.credential
        )
        uow.commit()
    if not ok:
        raise AuthenticationError(
            "The security key's answer was refused.", code="second_factor_invalid"
        )
    return json_response(200, dumps({"object": "operator_session", "second_factor": "verified"}))


@router.post("/logout")
@operator_route
def logout(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params, stage="pending") as (uow, call):
        sessions.end(uow, call.session)
        operators.event(uow, call.ctx, "logged_out", call.operator, session=call.session.id)
        uow.commit()
    response = json_response(200, dumps({"object": "operator_session", "ended": True}))
    clear_session_cookie(response)
    return response


@router.get("/session")
@operator_route
def current_session(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    """Who is signed in: the operator, the effective permissions, the active grants."""
    with operator_uow(request, params) as (uow, call):
        op = call.operator
        creds = repo.webauthn_credentials(uow.session, op.id)
        grants = repo.active_grants(uow.session, op.id, uow.clock.now())
        body = {
            "object": "operator_session",
            "operator": operators.render_operator(op, len(creds)),
            "permissions": sorted(call.permissions),
            "grants": [access_grants.render_grant(g) for g in grants],
        }
        uow.commit()
    return json_response(200, dumps(body))


def _needs_enrollment_stage(call_has_factor: bool, second_factor_done: bool) -> None:
    """Adding a factor on a pending session is allowed only to the first one."""
    if call_has_factor and not second_factor_done:
        raise AuthenticationError("Verify your second factor first.", code="second_factor_required")


@router.post("/factors/totp")
@operator_route
def start_totp(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    """A new TOTP seed: its provisioning URI and QR code (shown once)."""
    with operator_uow(request, params, stage="pending") as (uow, call):
        op = call.operator
        _needs_enrollment_stage(
            operators.has_second_factor(uow, op), call.session.second_factor_at is not None
        )
        seed = operators.start_totp_enrollment(uow, call.runtime.sealer, op)
        uri = totp.provisioning_uri(seed, op.email)
        body = {
            "object": "totp_enrollment",
            "secret": seed.reveal(),
            "provisioning_uri": uri.reveal(),
            "qr_code_svg": totp.qr_svg(uri).reveal(),
        }
        uow.commit()
    return json_response(200, dumps(body))


@router.post("/factors/totp/confirm")
@operator_route
def confirm_totp(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    """Confirm the seed with a code; returns the recovery codes once."""
    with operator_uow(request, params, stage="pending") as (uow, call):
        p = validate_params(CodeParams, params)
        ok = operators.confirm_totp(uow, call.runtime.sealer, call.operator, call.session, p.code)
        codes = operators.new_recovery_codes(uow, call.operator) if ok else []
        uow.commit()
    if not ok:
        raise AuthenticationError("The code is wrong or expired.", code="second_factor_invalid")
    body = {"object": "totp_enrollment", "confirmed": True,
            "recovery_codes": [c.reveal() for c in codes]}  # fmt: skip
    return json_response(200, dumps(body))


@router.post("/factors/recovery_codes")
@operator_route
def regenerate_codes(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params) as (uow, call):
        codes = operators.new_recovery_codes(uow, call.operator)
        uow.commit()
    body = {"object": "recovery_codes", "recovery_codes": [c.reveal() for c in codes]}
    return json_response(200, dumps(body))


@router.post("/factors/webauthn/options")
@operator_route
def webauthn_registration_options(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    with operator_uow(request, params, stage="pending") as (uow, call):
        _needs_enrollment_stage(
            operators.has_second_factor(uow, call.operator),
            call.session.second_factor_at is not None,
        )
        options = wa.registration_options(
            uow, relying_party(call.runtime), call.operator, call.session
        )
        uow.commit()
    return json_response(200, dumps(options))


@router.post("/factors/webauthn")
@operator_route
def webauthn_register(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    with operator_uow(request, params, stage="pending") as (uow, call):
        p = validate_params(CredentialParams, params)
        _needs_enrollment_stage(
            operators.has_second_factor(uow, call.operator),
            call.session.second_factor_at is not None,
        )
        cred = wa.register(
            uow, relying_party(call.runtime), call.operator, call.session, p.credential
        )
        uow.commit()
        body = {"object": "webauthn_credential", "id": cred.id}
    return json_response(200, dumps(body))


@router.post("/invitations/accept")
@operator_route
def accept_invitation(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    """Set a password with an invitation's token (JSON; the token is the credential)."""
    rt = get_runtime(request)
    p = validate_params(AcceptInvitationParams, params)
    with rt.db.unit_of_work() as uow:
        op = operators.accept_invitation(
            uow, Secret(p.token), Secret(p.password), client_address(request)
        )
        body = operators.render_operator(op)
        uow.commit()
    return json_response(200, dumps(body))
