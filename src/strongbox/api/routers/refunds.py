from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.edge import edge_route
from strongbox.api.operations import run_write
from strongbox.api.routers.common import (
    body_doc,
    created_of,
    list_expand,
    list_response,
    page_of,
    query_doc,
    read_response,
    write_request,
)
from strongbox.core.params import validate_params
from strongbox.payments import refunds
from strongbox.payments.schemas import (
    REFUND_EXPANDABLE,
    CreateRefundParams,
    ListRefundsParams,
    RetrieveParams,
    UpdateRefundParams,
    check_expand,
    render_refund,
)
from strongbox.payments.steps import Step

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])


def _render(expand: set[str], livemode: bool) -> Any:
    def render(session: Any, step: Step) -> Any:
        assert step.refund is not None
        return render_refund(session, step.refund, expand, livemode)

    return render


@router.post("", summary="Create a refund", openapi_extra=body_doc(CreateRefundParams))
@edge_route
def create_refund(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateRefundParams, params)
    refunds.validate(p)
    expand = check_expand(p.expand, REFUND_EXPANDABLE)
    svc = caller.runtime.payments
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: refunds.begin(svc, uow, ctx, p),
        _render(expand, caller.ctx.livemode),
    )


@router.get("", summary="List refunds", openapi_extra=query_doc(ListRefundsParams))
def list_refunds(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListRefundsParams, params)
    expand = list_expand(p.expand, REFUND_EXPANDABLE)
    return list_response(
        caller,
        "/v1/refunds",
        lambda uow: refunds.list_(
            uow, caller.ctx, page_of(p), p.payment_intent, p.charge, created_of(p)
        ),
        lambda uow, r: render_refund(uow.session, r, expand, caller.ctx.livemode),
    )


@router.get("/{refund_id}", summary="Retrieve a refund", openapi_extra=query_doc(RetrieveParams))
def retrieve_refund(
    refund_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    expand = check_expand(p.expand, REFUND_EXPANDABLE)
    return read_response(
        caller,
        lambda uow: render_refund(
            uow.session,
            refunds.retrieve(uow, caller.ctx, refund_id),
            expand,
            caller.ctx.livemode,
        ),
    )


@router.post("/{refund_id}", summary="Update a refund", openapi_extra=body_doc(UpdateRefundParams))
def update_refund(
    refund_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(UpdateRefundParams, params)
    expand = check_expand(p.expand, REFUND_EXPANDABLE)
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(refund=refunds.update(uow, ctx, refund_id, p)),
        _render(expand, caller.ctx.livemode),
    )
