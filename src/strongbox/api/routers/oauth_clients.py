"""``/v1/oauth_clients``: a merchant registers its OAuth2 client applications (docs/oauth.md).

A Strongbox extension. Only an unrestricted secret key may use these routes: an OAuth access
token or a restricted key registering a client could grant itself more than it holds.
Creating a client answers its secret once; the secret is stored only as a digest, so the
creation is never replayed from a stored response (an ``Idempotency-Key`` is not honoured
here: a retry makes a second client, which can be revoked).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import Caller, authenticate, params_of
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import (
    body_doc,
    list_expand,
    list_response,
    page_of,
    query_doc,
    read_response,
)
from strongbox.auth.oauth import clients
from strongbox.auth.schemas import CreateOAuthClientParams, ListOAuthClientsParams
from strongbox.core.errors import PermissionError_
from strongbox.core.params import validate_params
from strongbox.payments.schemas import RetrieveParams, check_expand

router = APIRouter(prefix="/v1/oauth_clients", tags=["oauth_clients"])
NO_EXPAND: frozenset[str] = frozenset()


def _owner(request: Request) -> Caller:
    caller = authenticate(request)
    if caller.auth.kind != "secret" or caller.auth.permissions is not None:
        raise PermissionError_("OAuth clients are managed with an unrestricted secret key.")
    return caller


@router.post(
    "",
    summary="Register an OAuth2 client application (its secret is shown once)",
    openapi_extra=body_doc(CreateOAuthClientParams),
)
def create_oauth_client(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = _owner(request)
    p = validate_params(CreateOAuthClientParams, params)
    check_expand(p.expand, NO_EXPAND)
    with caller.runtime.db.unit_of_work() as uow:
        new = clients.create_client(
            uow,
            caller.ctx,
            name=p.name,
            kind=p.client_type,
            scope=p.scope,
            redirect_uris=p.redirect_uris,
            grant_types=p.grant_types,
        )
        body = clients.render(new.client, caller.ctx.livemode)
        uow.commit()
    if new.secret is not None:
        body["client_secret"] = new.secret.reveal()
    return json_response(200, dumps(body), {"Cache-Control": "no-store"})


@router.get("", summary="List OAuth2 clients", openapi_extra=query_doc(ListOAuthClientsParams))
def list_oauth_clients(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = _owner(request)
    p = validate_params(ListOAuthClientsParams, params)
    list_expand(p.expand, NO_EXPAND)
    return list_response(
        caller,
        "/v1/oauth_clients",
        lambda uow: clients.list_clients(uow, caller.ctx, page_of(p)),
        lambda _, row: clients.render(row, caller.ctx.livemode),
    )


@router.get(
    "/{client_id}", summary="Retrieve an OAuth2 client", openapi_extra=query_doc(RetrieveParams)
)
def retrieve_oauth_client(
    client_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = _owner(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    return read_response(
        caller,
        lambda uow: clients.render(
            clients.get_client(uow, caller.ctx, client_id), caller.ctx.livemode
        ),
    )


@router.post("/{client_id}/revoke", summary="Revoke an OAuth2 client and its tokens")
def revoke_oauth_client(
    client_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = _owner(request)
    with caller.runtime.db.unit_of_work() as uow:
        row = clients.revoke_client(uow, caller.ctx, clients.get_client(uow, caller.ctx, client_id))
        body = clients.render(row, caller.ctx.livemode)
        uow.commit()
    return json_response(200, dumps(body))
