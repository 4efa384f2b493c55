from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.routers.common import (
    body_doc,
    created_of,
    list_expand,
    list_response,
    page_of,
    query_doc,
    read_response,
    search_not_supported,
    write_request,
)
from strongbox.core.params import validate_params
from strongbox.payments import customers
from strongbox.payments.schemas import (
    CustomerParams,
    ListCustomersParams,
    RetrieveParams,
    check_expand,
    render_customer,
)
from strongbox.payments.steps import Step

router = APIRouter(prefix="/v1/customers", tags=["customers"])
NO_EXPAND: frozenset[str] = frozenset()


def _render(livemode: bool) -> Any:
    def render(session: Any, step: Step) -> Any:
        return step.extra["customer"]

    return render


@router.post("", summary="Create a customer", openapi_extra=body_doc(CustomerParams))
def create_customer(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CustomerParams, params)
    check_expand(p.expand, NO_EXPAND)
    svc = caller.runtime.payments

    def phase1(uow: Any, ctx: Any) -> Step:
        c = customers.create(svc, uow, ctx, p)
        return Step(extra={"customer": render_customer(c, ctx.livemode)})

    return run_write(caller, write_request(request, params), phase1, _render(caller.ctx.livemode))


@router.get("", summary="List customers", openapi_extra=query_doc(ListCustomersParams))
def list_customers(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListCustomersParams, params)
    list_expand(p.expand, NO_EXPAND)
    svc = caller.runtime.payments
    return list_response(
        caller,
        "/v1/customers",
        lambda uow: customers.list_(svc, uow, caller.ctx, page_of(p), p.email, created_of(p)),
        lambda _, c: render_customer(c, caller.ctx.livemode),
    )


@router.get("/search", summary="Search (not supported)", include_in_schema=False)
def search_customers(request: Request) -> Response:
    authenticate(request)
    search_not_supported()


@router.get(
    "/{customer_id}", summary="Retrieve a customer", openapi_extra=query_doc(RetrieveParams)
)
def retrieve_customer(
    customer_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    check_expand(p.expand, NO_EXPAND)
    return read_response(
        caller,
        lambda uow: render_customer(
            customers.retrieve(uow, caller.ctx, customer_id), caller.ctx.livemode
        ),
    )


@router.post("/{customer_id}", summary="Update a customer", openapi_extra=body_doc(CustomerParams))
def update_customer(
    customer_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CustomerParams, params)
    check_expand(p.expand, NO_EXPAND)
    svc = caller.runtime.payments

    def phase1(uow: Any, ctx: Any) -> Step:
        c = customers.update(svc, uow, ctx, customer_id, p)
        return Step(extra={"customer": render_customer(c, ctx.livemode)})

    return run_write(caller, write_request(request, params), phase1, _render(caller.ctx.livemode))


@router.delete("/{customer_id}", summary="Delete a customer")
def delete_customer(
    customer_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    svc = caller.runtime.payments

    def phase1(uow: Any, ctx: Any) -> Step:
        c = customers.delete(svc, uow, ctx, customer_id)
        return Step(extra={"customer": {"id": c.id, "object": "customer", "deleted": True}})

    return run_write(caller, write_request(request, params), phase1, _render(caller.ctx.livemode))
