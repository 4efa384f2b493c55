from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import body_doc, created_of, page_of, query_doc, write_request
from strongbox.core.params import validate_params
from strongbox.payments.schemas import (
    REFUND_EXPANDABLE,
    CreateRefundParams,
    ListRefundsParams,
    RetrieveParams,
    UpdateRefundParams,
    check_expand,
    render_list,
    render_refund,
)
from strongbox.payments.service import PaymentsService, Step

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])


def _render(expand: set[str], livemode: bool) -> Any:
    def render(session: Any, step: Step) -> Any:
        assert step.refund is not None
        return render_refund(session, step.refund, expand, livemode)

    return render


@router.post("", summary="Create a refund", openapi_extra=body_doc(CreateRefundParams))
def create_refund(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateRefundParams, params)
    PaymentsService.validate_refund(p)
    expand = check_expand(p.expand, REFUND_EXPANDABLE)
    svc = caller.runtime.payments
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: svc.begin_refund(uow, ctx, p),
        _render(expand, caller.ctx.livemode),
    )


@router.get("", summary="List refunds", openapi_extra=query_doc(ListRefundsParams))
def list_refunds(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListRefundsParams, params)
    expand = check_expand([e.removeprefix("data.") for e in p.expand or []], REFUND_EXPANDABLE)
    with caller.runtime.db.reader() as uow:
        page = caller.runtime.payments.list_refunds(
            uow, caller.ctx, page_of(p), p.payment_intent, p.charge, created_of(p)
        )
        body = render_list(
            "/v1/refunds",
            [render_refund(uow.session, r, expand, caller.ctx.livemode) for r in page.data],
            page.has_more,
        )
    return json_response(200, dumps(body))


@router.get("/{refund_id}", summary="Retrieve a refund", openapi_extra=query_doc(RetrieveParams))
def retrieve_refund(
    refund_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    expand = check_expand(p.expand, REFUND_EXPANDABLE)
    with caller.runtime.db.reader() as uow:
        r = caller.runtime.payments.retrieve_refund(uow, caller.ctx, refund_id)
        body = render_refund(uow.session, r, expand, caller.ctx.livemode)
    return json_response(200, dumps(body))


@router.post("/{refund_id}", summary="Update a refund", openapi_extra=body_doc(UpdateRefundParams))
def update_refund(
    refund_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(UpdateRefundParams, params)
    expand = check_expand(p.expand, REFUND_EXPANDABLE)
    svc = caller.runtime.payments
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(refund=svc.update_refund(uow, ctx, refund_id, p)),
        _render(expand, caller.ctx.livemode),
    )
