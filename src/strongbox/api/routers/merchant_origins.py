"""``/v1/merchant_origins``: the web origins allowed to embed the hosted card fields.

A Strongbox extension (Stripe registers domains with ``/v1/payment_method_domains``). Secret
keys only; changes are idempotent POSTs/DELETEs and raise internal events for the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.routers.common import (
    body_doc,
    list_expand,
    list_response,
    page_of,
    query_doc,
    read_response,
    write_request,
)
from strongbox.auth import origins
from strongbox.auth.schemas import CreateMerchantOriginParams, ListMerchantOriginsParams
from strongbox.core.params import validate_params
from strongbox.payments.schemas import RetrieveParams, check_expand
from strongbox.payments.steps import Step

router = APIRouter(prefix="/v1/merchant_origins", tags=["merchant_origins"])
NO_EXPAND: frozenset[str] = frozenset()


def _render(session: Any, step: Step) -> Any:
    return step.extra["merchant_origin"]


@router.post(
    "",
    summary="Register an origin allowed to embed the hosted card fields",
    openapi_extra=body_doc(CreateMerchantOriginParams),
)
def create_merchant_origin(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateMerchantOriginParams, params)
    check_expand(p.expand, NO_EXPAND)
    origin = origins.normalize_origin(p.origin)  # a 400 before any idempotency key is taken

    def phase1(uow: Any, ctx: Any) -> Step:
        row = origins.add_origin(uow, ctx, origin)
        return Step(extra={"merchant_origin": origins.render_origin(row, ctx.livemode)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.get(
    "", summary="List registered origins", openapi_extra=query_doc(ListMerchantOriginsParams)
)
def list_merchant_origins(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ListMerchantOriginsParams, params)
    list_expand(p.expand, NO_EXPAND)
    return list_response(
        caller,
        "/v1/merchant_origins",
        lambda uow: origins.list_origins(uow, caller.ctx, page_of(p)),
        lambda _, o: origins.render_origin(o, caller.ctx.livemode),
    )


@router.get(
    "/{origin_id}", summary="Retrieve a registered origin", openapi_extra=query_doc(RetrieveParams)
)
def retrieve_merchant_origin(
    origin_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    return read_response(
        caller,
        lambda uow: origins.render_origin(
            origins.get_origin(uow, caller.ctx, origin_id), caller.ctx.livemode
        ),
    )


@router.delete("/{origin_id}", summary="Remove a registered origin")
def delete_merchant_origin(
    origin_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)

    def phase1(uow: Any, ctx: Any) -> Step:
        row = origins.get_origin(uow, ctx, origin_id)
        origins.remove_origin(uow, ctx, row)
        deleted = {"id": row.id, "object": "merchant_origin", "deleted": True}
        return Step(extra={"merchant_origin": deleted})

    return run_write(caller, write_request(request, params), phase1, _render)
