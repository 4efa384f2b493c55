"""Connector accounts: a merchant's credentials per gateway (never returned, only hints)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.routers.common import (
    body_doc,
    list_response,
    page_of,
    query_doc,
    read_response,
    write_request,
)
from strongbox.core.params import validate_params
from strongbox.payments.steps import Step
from strongbox.routing.schemas import (
    CreateConnectorAccountParams,
    ListConnectorAccountsParams,
    UpdateConnectorAccountParams,
)
from strongbox.routing.service import render_account

router = APIRouter(prefix="/v1/connector_accounts", tags=["connector_accounts"])


def _render(session: Any, step: Step) -> Any:
    return render_account(step.extra["account"])


@router.post(
    "",
    summary="Add a connector account (Strongbox extension)",
    openapi_extra=body_doc(CreateConnectorAccountParams),
)
def create_connector_account(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateConnectorAccountParams, params)
    svc = caller.runtime.routing
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(
            extra={
                "account": svc.create_account(
                    uow,
                    ctx,
                    connector=p.connector,
                    label=p.label,
                    credentials=dict(p.credentials),
                    settings=dict(p.settings),
                )
            }
        ),
        _render,
    )


@router.get(
    "",
    summary="List connector accounts (Strongbox extension)",
    openapi_extra=query_doc(ListConnectorAccountsParams),
)
def list_connector_accounts(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ListConnectorAccountsParams, params)
    routing = caller.runtime.routing
    return list_response(
        caller,
        "/v1/connector_accounts",
        lambda uow: routing.list_accounts(uow, caller.ctx, page_of(p)),
        lambda _, a: render_account(a),
    )


@router.get("/{account_id}", summary="Retrieve a connector account (Strongbox extension)")
def retrieve_connector_account(account_id: str, request: Request) -> Response:
    caller = authenticate(request)
    routing = caller.runtime.routing
    return read_response(
        caller, lambda uow: render_account(routing.retrieve_account(uow, caller.ctx, account_id))
    )


@router.post(
    "/{account_id}",
    summary="Update a connector account (Strongbox extension)",
    openapi_extra=body_doc(UpdateConnectorAccountParams),
)
def update_connector_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(UpdateConnectorAccountParams, params)
    svc = caller.runtime.routing
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(
            extra={
                "account": svc.update_account(
                    uow,
                    ctx,
                    account_id,
                    label=p.label,
                    status=p.status,
                    credentials=None if p.credentials is None else dict(p.credentials),
                    settings=None if p.settings is None else dict(p.settings),
                )
            }
        ),
        _render,
    )


@router.delete("/{account_id}", summary="Delete a connector account (Strongbox extension)")
def delete_connector_account(account_id: str, request: Request) -> Response:
    caller = authenticate(request)
    svc = caller.runtime.routing
    return run_write(
        caller,
        write_request(request, {}),
        lambda uow, ctx: Step(extra={"account": svc.delete_account(uow, ctx, account_id)}),
        _render,
    )
