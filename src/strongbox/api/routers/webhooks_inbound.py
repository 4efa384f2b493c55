"""Inbound gateway webhooks: the receiving endpoint, and the accounts that may post to it.

``POST /v1/webhooks/inbound/{connector}/{account}`` is called by the gateway, not by the
merchant: it is authenticated by the gateway's signature over the raw body (verified before
anything is parsed), answers 200 as soon as the event is stored, and a worker applies it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from strongbox.api.context import authenticate, get_runtime, params_of
from strongbox.api.operations import run_write
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import body_doc, created_of, page_of, query_doc, write_request
from strongbox.core.errors import ResourceMissingError
from strongbox.core.params import Expand, ListParams, Params, validate_params
from strongbox.payments.schemas import check_expand, render_list
from strongbox.payments.steps import Step
from strongbox.runtime import Runtime
from strongbox.webhooks import inbound
from strongbox.webhooks.providers import MAX_BODY_BYTES
from strongbox.webhooks.schemas import (
    CONNECTORS,
    CreateInboundAccountParams,
    ListInboundEventsParams,
    UpdateInboundAccountParams,
    render_inbound_account,
    render_inbound_event,
)

router = APIRouter(prefix="/v1/webhooks", tags=["inbound webhooks"])
NO_EXPAND: frozenset[str] = frozenset()


class RetrieveParams(Params):
    expand: Expand | None = None


@router.post("/inbound/{connector}/{account_id}", summary="Receive a gateway webhook")
async def receive(connector: str, account_id: str, request: Request) -> Response:
    rt = get_runtime(request)
    if connector not in CONNECTORS:
        raise ResourceMissingError("No such inbound webhook endpoint.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            break
    headers = {k.lower(): v for k, v in request.headers.items()}
    got = await run_in_threadpool(_receive, rt, connector, account_id, body, headers)
    if connector == "adyen":
        # Adyen marks a delivery done only on this exact body; anything else is retried.
        return Response(content=b"[accepted]", status_code=200, media_type="text/plain")
    return json_response(200, dumps({"received": True, "duplicate": got.duplicate}))


def _receive(
    rt: Runtime, connector: str, account_id: str, body: bytes, headers: dict[str, str]
) -> inbound.Received:
    """This edge owns the unit of work: one commit for the stored events, or for the
    signature-failure record before the error is answered."""
    for attempt in range(2):
        try:
            with rt.db.unit_of_work() as uow:
                got = inbound.receive(uow, rt.sealer, connector, account_id, body, headers)
                uow.commit()
        except IntegrityError:
            if attempt:
                raise
            continue  # the same event raced in on another connection: store the rest
        if isinstance(got, inbound.Rejected):
            raise got.error
        return got
    raise AssertionError("unreachable")  # pragma: no cover


def _render(session: Any, step: Step) -> Any:
    return step.extra["body"]


@router.post(
    "/inbound_accounts",
    summary="Add a gateway account that may send webhooks",
    openapi_extra=body_doc(CreateInboundAccountParams),
)
def create_account(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateInboundAccountParams, params)
    check_expand(p.expand, NO_EXPAND)
    rt = caller.runtime
    url = rt.settings.public_url

    def phase1(uow: Any, ctx: Any) -> Step:
        a = inbound.create_account(uow, ctx, rt.sealer, p)
        return Step(extra={"body": render_inbound_account(a, url)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.get(
    "/inbound_accounts", summary="List gateway accounts", openapi_extra=query_doc(ListParams)
)
def list_accounts(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListParams, params)
    check_expand([e.removeprefix("data.") for e in p.expand or []], NO_EXPAND)
    url = caller.runtime.settings.public_url
    with caller.runtime.db.reader() as uow:
        page = inbound.list_accounts(uow, caller.ctx, page_of(p), created_of(p))
        body = render_list(
            "/v1/webhooks/inbound_accounts",
            [render_inbound_account(a, url) for a in page.data],
            page.has_more,
        )
    return json_response(200, dumps(body))


@router.get("/inbound_accounts/{account_id}", summary="Retrieve a gateway account")
def retrieve_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    with caller.runtime.db.reader() as uow:
        a = inbound.require_account(uow, caller.ctx, account_id)
        body = render_inbound_account(a, caller.runtime.settings.public_url)
    return json_response(200, dumps(body))


@router.post(
    "/inbound_accounts/{account_id}",
    summary="Update a gateway account (rotate its secret with an overlap)",
    openapi_extra=body_doc(UpdateInboundAccountParams),
)
def update_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(UpdateInboundAccountParams, params)
    check_expand(p.expand, NO_EXPAND)
    rt = caller.runtime
    url = rt.settings.public_url

    def phase1(uow: Any, ctx: Any) -> Step:
        a = inbound.update_account(uow, ctx, rt.sealer, account_id, p)
        return Step(extra={"body": render_inbound_account(a, url)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.delete("/inbound_accounts/{account_id}", summary="Delete a gateway account")
def delete_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(Params, params)

    def phase1(uow: Any, ctx: Any) -> Step:
        return Step(extra={"body": inbound.delete_account(uow, ctx, account_id)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.get(
    "/inbound_events",
    summary="List received gateway events and what processing did with them",
    openapi_extra=query_doc(ListInboundEventsParams),
)
def list_inbound_events(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListInboundEventsParams, params)
    check_expand([e.removeprefix("data.") for e in p.expand or []], NO_EXPAND)
    with caller.runtime.db.reader() as uow:
        page = inbound.list_events(uow, caller.ctx, page_of(p), p.status, created_of(p))
        body = render_list(
            "/v1/webhooks/inbound_events",
            [render_inbound_event(e) for e in page.data],
            page.has_more,
        )
    return json_response(200, dumps(body))
