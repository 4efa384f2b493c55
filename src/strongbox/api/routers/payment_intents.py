from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.edge import edge_route
from strongbox.api.operations import run_write, with_payment_method_data
from strongbox.api.responses import dumps, json_response
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
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments import capture, confirm, intents, recovery
from strongbox.payments.schemas import (
    INTENT_EXPANDABLE,
    CancelPaymentIntentParams,
    CapturePaymentIntentParams,
    ConfirmPaymentIntentParams,
    CreatePaymentIntentParams,
    ListPaymentIntentsParams,
    RetrieveParams,
    UpdatePaymentIntentParams,
    check_expand,
    render_intent,
)
from strongbox.payments.steps import Step

router = APIRouter(prefix="/v1/payment_intents", tags=["payment_intents"])


def _render(expand: set[str]) -> Any:
    def render(session: Any, step: Step) -> Any:
        assert step.intent is not None
        return render_intent(session, step.intent, expand)

    return render


@router.post(
    "", summary="Create a PaymentIntent", openapi_extra=body_doc(CreatePaymentIntentParams)
)
@edge_route
def create_payment_intent(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CreatePaymentIntentParams, params)
    intents.validate_create(p)
    expand = check_expand(p.expand, INTENT_EXPANDABLE)
    svc = caller.runtime.payments
    req = write_request(request, params)

    def create(uow: UnitOfWork, ctx: RequestContext, pm: str | None) -> Step:
        return intents.create(svc, uow, ctx, p if pm is None else _with_pm(p, pm))

    phase1 = with_payment_method_data(caller, req, p.payment_method, p.payment_method_data, create)
    return run_write(caller, req, phase1, _render(expand))


P = TypeVar("P", CreatePaymentIntentParams, ConfirmPaymentIntentParams)


def _with_pm(p: P, pm: str) -> P:
    return p.model_copy(update={"payment_method": pm, "payment_method_data": None})


@router.get("", summary="List PaymentIntents", openapi_extra=query_doc(ListPaymentIntentsParams))
def list_payment_intents(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListPaymentIntentsParams, params)
    expand = list_expand(p.expand, INTENT_EXPANDABLE)
    return list_response(
        caller,
        "/v1/payment_intents",
        lambda uow: intents.list_(uow, caller.ctx, page_of(p), p.customer, created_of(p)),
        lambda uow, pi: render_intent(uow.session, pi, expand),
    )


@router.get("/search", summary="Search (not supported)", include_in_schema=False)
def search_payment_intents(request: Request) -> Response:
    authenticate(request)
    search_not_supported()


@router.get(
    "/{intent_id}", summary="Retrieve a PaymentIntent", openapi_extra=query_doc(RetrieveParams)
)
@edge_route
def retrieve_payment_intent(
    intent_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    expand = check_expand(p.expand, INTENT_EXPANDABLE)
    return read_response(
        caller,
        lambda uow: render_intent(
            uow.session, intents.retrieve(uow, caller.ctx, intent_id), expand
        ),
    )


@router.post(
    "/{intent_id}",
    summary="Update a PaymentIntent",
    openapi_extra=body_doc(UpdatePaymentIntentParams),
)
def update_payment_intent(
    intent_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(UpdatePaymentIntentParams, params)
    intents.validate_update(p)
    expand = check_expand(p.expand, INTENT_EXPANDABLE)
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(intent=intents.update(uow, ctx, intent_id, p)),
        _render(expand),
    )


@router.post(
    "/{intent_id}/confirm",
    summary="Confirm a PaymentIntent",
    openapi_extra=body_doc(ConfirmPaymentIntentParams),
)
@edge_route
def confirm_payment_intent(
    intent_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ConfirmPaymentIntentParams, params)
    expand = check_expand(p.expand, INTENT_EXPANDABLE)
    svc = caller.runtime.payments
    req = write_request(request, params)

    def begin(uow: UnitOfWork, ctx: RequestContext, pm: str | None) -> Step:
        return confirm.begin(svc, uow, ctx, intent_id, p if pm is None else _with_pm(p, pm))

    if p.payment_method_data is not None:  # an unknown intent costs no gateway read
        with caller.runtime.db.reader() as uow:
            intents.retrieve(uow, caller.ctx, intent_id)

    phase1 = with_payment_method_data(caller, req, p.payment_method, p.payment_method_data, begin)
    return run_write(caller, req, phase1, _render(expand))


@router.post(
    "/{intent_id}/capture",
    summary="Capture a PaymentIntent",
    openapi_extra=body_doc(CapturePaymentIntentParams),
)
@edge_route
def capture_payment_intent(
    intent_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CapturePaymentIntentParams, params)
    expand = check_expand(p.expand, INTENT_EXPANDABLE)
    svc = caller.runtime.payments
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: capture.begin_capture(svc, uow, ctx, intent_id, p),
        _render(expand),
    )


@router.post(
    "/{intent_id}/cancel",
    summary="Cancel a PaymentIntent",
    openapi_extra=body_doc(CancelPaymentIntentParams),
)
@edge_route
def cancel_payment_intent(
    intent_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CancelPaymentIntentParams, params)
    expand = check_expand(p.expand, INTENT_EXPANDABLE)
    svc = caller.runtime.payments
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: capture.begin_cancel(svc, uow, ctx, intent_id, p),
        _render(expand),
    )


@router.get(
    "/{intent_id}/history", summary="Status history of a PaymentIntent (Strongbox extension)"
)
def payment_intent_history(intent_id: str, request: Request) -> Response:
    caller = authenticate(request)
    with caller.runtime.db.reader() as uow:
        changes = recovery.history(uow, caller.ctx, intent_id)
        attempts = recovery.attempts(uow, caller.ctx, intent_id)
        body = {
            "object": "payment_intent_history",
            "payment_intent": intent_id,
            "status_changes": [
                {
                    "from": c.from_status,
                    "to": c.to_status,
                    "cause": c.cause,
                    "attempt": c.attempt_id,
                    "request": c.request_id,
                    "created": int(c.created.timestamp()),
                }
                for c in changes
            ],
            "attempts": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "status": a.status,
                    "connector": a.connector,
                    "amount": a.amount,
                    "gateway_reference": a.gateway_reference,
                    "decline_code": a.decline_code,
                    "error_code": a.error_code,
                    "routing_reason": a.routing_reason,
                    "connector_account": a.connector_account_id,
                    "routing": a.routing,
                    "created": int(a.created.timestamp()),
                }
                for a in attempts
            ],
        }
    return json_response(200, dumps(body))
