"""``/v1/privacy/requests``: data subject requests (GDPR access, portability, erasure).

A Strongbox extension. Secret keys only. Creating a request finds the subject across the
merchant's data and, for an erasure, runs the whole workflow in the request's unit of work
(its certificate is on the request). ``/export`` hands out an access or portability
request's bundle as JSON or as an HTML summary; every download is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, Response

from strongbox.api.context import authenticate, params_of
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
from strongbox.core.params import validate_params
from strongbox.payments.schemas import RetrieveParams, check_expand
from strongbox.payments.steps import Step
from strongbox.privacy import service
from strongbox.privacy.schemas import (
    CreatePrivacyRequestParams,
    ExportParams,
    ListPrivacyRequestsParams,
)

router = APIRouter(prefix="/v1/privacy/requests", tags=["privacy"])
NO_EXPAND: frozenset[str] = frozenset()


def _render(session: Any, step: Step) -> Any:
    return step.extra["privacy_request"]


@router.post(
    "",
    summary="Create a data subject request (access, portability or erasure)",
    openapi_extra=body_doc(CreatePrivacyRequestParams),
)
def create_privacy_request(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CreatePrivacyRequestParams, params)
    check_expand(p.expand, NO_EXPAND)
    rt = caller.runtime

    def phase1(uow: Any, ctx: Any) -> Step:
        row = service.create_request(
            uow,
            ctx,
            rt.vault.service,
            rt.audit.signer,
            type_=p.type,
            customer=p.customer,
            email=p.email,
            journal=rt.privacy_journal,
        )
        return Step(extra={"privacy_request": service.render_request(row, ctx.livemode)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.get(
    "", summary="List data subject requests", openapi_extra=query_doc(ListPrivacyRequestsParams)
)
def list_privacy_requests(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ListPrivacyRequestsParams, params)
    list_expand(p.expand, NO_EXPAND)
    return list_response(
        caller,
        "/v1/privacy/requests",
        lambda uow: service.list_requests(uow, caller.ctx, page_of(p)),
        lambda _, r: service.render_request(r, caller.ctx.livemode),
    )


@router.get(
    "/{request_id}",
    summary="Retrieve a data subject request (status, deadline, steps, certificate)",
    openapi_extra=query_doc(RetrieveParams),
)
def retrieve_privacy_request(
    request_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    return read_response(
        caller,
        lambda uow: service.render_request(
            service.get_request(uow, caller.ctx, request_id), caller.ctx.livemode
        ),
    )


@router.get(
    "/{request_id}/export",
    summary="Download the personal data of an access or portability request (JSON or HTML)",
    openapi_extra=query_doc(ExportParams),
)
def export_privacy_request(
    request_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ExportParams, params)
    with caller.runtime.db.unit_of_work() as uow:
        bundle, html = service.export(uow, caller.ctx, request_id, p.format)
        uow.commit()
    if html is not None:
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})
    return json_response(200, dumps(bundle), headers={"Cache-Control": "no-store"})
