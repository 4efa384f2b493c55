"""``/v1/api_keys``: restricted keys (``rk_…``), listing, revoking and rolling keys.

A Strongbox extension (Stripe manages keys in its dashboard). Requires ``api_keys:read`` /
``api_keys:write`` (an unrestricted secret key has both). A new key is in the response of
the request that made it, once: the response stored for an idempotent replay never holds it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import Caller, authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import (
    body_doc,
    list_expand,
    list_response,
    page_of,
    query_doc,
    read_response,
    write_request,
)
from strongbox.auth import restricted_keys as keys
from strongbox.auth.schemas import CreateRestrictedKeyParams, ListApiKeysParams, RollKeyParams
from strongbox.core.params import validate_params
from strongbox.core.secret import Secret
from strongbox.payments.schemas import RetrieveParams, check_expand
from strongbox.payments.steps import Step

router = APIRouter(prefix="/v1/api_keys", tags=["api_keys"])
NO_EXPAND: frozenset[str] = frozenset()


def _render(session: Any, step: Step) -> Any:
    return step.extra["api_key"]


def _with_secret(resp: Response, secret: list[Secret[str]]) -> Response:
    """Add the key to a fresh (not replayed) 200 response, never to the stored one."""
    if resp.status_code != 200 or not secret or resp.headers.get("idempotent-replayed"):
        return resp
    body = orjson.loads(bytes(resp.body))
    body["secret"] = secret[0].reveal()
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
    return json_response(200, dumps(body), headers)


def _cleared(caller: Caller) -> None:
    caller.runtime.key_cache.clear()  # this process sees a revocation at once


@router.post(
    "",
    summary="Create a restricted key (rk_…)",
    openapi_extra=body_doc(CreateRestrictedKeyParams),
)
def create_api_key(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateRestrictedKeyParams, params)
    check_expand(p.expand, NO_EXPAND)
    keys.parse_levels(p.permissions)  # a 400 before any idempotency key is taken
    keys.parse_allowed_ips(p.allowed_ips or [])
    secret: list[Secret[str]] = []

    def phase1(uow: Any, ctx: Any) -> Step:
        key, raw = keys.create_restricted_key(
            uow,
            ctx,
            caller.auth.permissions,
            name=p.name,
            levels=p.permissions,
            allowed_ips=p.allowed_ips or [],
            expires_at=p.expires_at,
        )
        secret.append(raw)
        return Step(extra={"api_key": keys.render_key(key)})

    resp = run_write(caller, write_request(request, params), phase1, _render)
    return _with_secret(resp, secret)


@router.get("", summary="List the API keys in use", openapi_extra=query_doc(ListApiKeysParams))
def list_api_keys(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListApiKeysParams, params)
    list_expand(p.expand, NO_EXPAND)
    return list_response(
        caller,
        "/v1/api_keys",
        lambda uow: keys.list_keys(uow, caller.ctx, page_of(p)),
        lambda _, k: keys.render_key(k),
    )


@router.get("/{key_id}", summary="Retrieve an API key", openapi_extra=query_doc(RetrieveParams))
def retrieve_api_key(
    key_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    return read_response(caller, lambda uow: keys.render_key(keys.get_key(uow, caller.ctx, key_id)))


@router.post("/{key_id}/revoke", summary="Revoke an API key now")
def revoke_api_key(
    key_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)

    def phase1(uow: Any, ctx: Any) -> Step:
        key = keys.revoke_key(uow, ctx, keys.get_key(uow, ctx, key_id))
        uow.after_commit(lambda: _cleared(caller))
        return Step(extra={"api_key": keys.render_key(key)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.post(
    "/{key_id}/roll",
    summary="Roll a key: a new one now, the old one valid for expires_in seconds",
    openapi_extra=body_doc(RollKeyParams),
)
def roll_api_key(
    key_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RollKeyParams, params)
    check_expand(p.expand, NO_EXPAND)
    secret: list[Secret[str]] = []

    def phase1(uow: Any, ctx: Any) -> Step:
        old = keys.get_key(uow, ctx, key_id)
        new, raw = keys.roll_key(
            uow, ctx, caller.auth.permissions, old, timedelta(seconds=p.expires_in)
        )
        secret.append(raw)
        uow.after_commit(lambda: _cleared(caller))
        return Step(extra={"api_key": keys.render_key(new)})

    resp = run_write(caller, write_request(request, params), phase1, _render)
    return _with_secret(resp, secret)
