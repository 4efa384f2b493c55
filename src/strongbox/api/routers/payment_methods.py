from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import Caller, authenticate, params_of
from strongbox.api.operations import (
    Phase1,
    WriteRequest,
    describe_gateway_token,
    replay_only,
    run_write,
)
from strongbox.api.routers.common import (
    body_doc,
    list_expand,
    list_response,
    page_of,
    query_doc,
    read_response,
    write_request,
)
from strongbox.api.security import accepts_publishable_key
from strongbox.core.errors import PermissionError_
from strongbox.core.params import validate_params
from strongbox.payments import payment_methods
from strongbox.payments.gateway_tokens import requested_token
from strongbox.payments.schemas import (
    PM_EXPANDABLE,
    AttachPaymentMethodParams,
    CreatePaymentMethodParams,
    DetachPaymentMethodParams,
    ListPaymentMethodsParams,
    RetrieveParams,
    check_expand,
    render_payment_method,
)
from strongbox.payments.steps import Step

router = APIRouter(prefix="/v1/payment_methods", tags=["payment_methods"])


def _render(expand: set[str], livemode: bool) -> Any:
    def render(session: Any, step: Step) -> Any:
        return render_payment_method(session, step.extra["pm"], expand, livemode)

    return render


def _without_card_data(caller: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The request as the idempotency layer fingerprints it: card fields replaced by keyed
    digests, so no unkeyed hash of a PAN or CVC is ever stored."""
    card = params.get("card")
    if not isinstance(card, dict):
        return params
    vault = caller.runtime.vault.service
    safe = dict(card)
    with caller.runtime.db.read() as session:
        for name in ("number", "cvc"):
            value = safe.get(name)
            if isinstance(value, str | int):
                safe[name] = vault.blind_index(
                    session, caller.ctx.merchant_id, f"request-{name}", str(value)
                )
    return {**params, "card": safe}


@router.post(
    "",
    summary="Create a card (secret or publishable key) or us_bank_account payment method",
    openapi_extra=body_doc(CreatePaymentMethodParams),
)
@accepts_publishable_key
def create_payment_method(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request, allow_publishable=True)
    p = validate_params(CreatePaymentMethodParams, params)
    expand = check_expand(p.expand, PM_EXPANDABLE)
    svc = caller.runtime.payments
    req = write_request(request, _without_card_data(caller, params))
    if p.type == "us_bank_account":  # a linked Financial Connections account (issue 20)
        if caller.auth.kind != "secret":
            raise PermissionError_(
                "A us_bank_account payment method must be created with a secret API key."
            )
        return run_write(
            caller,
            req,
            lambda uow, ctx: Step(extra={"pm": payment_methods.create_bank_account(uow, ctx, p)}),
            _render(expand, caller.ctx.livemode),
        )
    gateway = requested_token(p)
    phase1: Phase1 = (
        (lambda uow, ctx: Step(extra={"pm": payment_methods.create_card(svc, uow, ctx, p)}))
        if gateway is None
        else _gateway_token_phase1(caller, req, p, *gateway)
    )
    return run_write(caller, req, phase1, _render(expand, caller.ctx.livemode))


def _gateway_token_phase1(
    caller: Caller, req: WriteRequest, p: CreatePaymentMethodParams, token: str, account: str
) -> Phase1:
    if caller.auth.kind != "secret":
        raise PermissionError_(
            "A payment method from a gateway token (card[token] with connector_account) must "
            "be created with a secret API key, from your server."
        )
    described = describe_gateway_token(caller, req, token, account)
    if described is None:
        return replay_only
    svc = caller.runtime.payments
    return lambda uow, ctx: Step(
        extra={"pm": payment_methods.create_gateway(svc, uow, ctx, p, *described)}
    )


@router.get("", summary="List payment methods", openapi_extra=query_doc(ListPaymentMethodsParams))
def list_payment_methods(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListPaymentMethodsParams, params)
    expand = list_expand(p.expand, PM_EXPANDABLE)
    return list_response(
        caller,
        "/v1/payment_methods",
        lambda uow: payment_methods.list_(uow, caller.ctx, page_of(p), p.customer, p.type),
        lambda uow, pm: render_payment_method(uow.session, pm, expand, caller.ctx.livemode),
    )


@router.get(
    "/{pm_id}", summary="Retrieve a payment method", openapi_extra=query_doc(RetrieveParams)
)
def retrieve_payment_method(
    pm_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveParams, params)
    expand = check_expand(p.expand, PM_EXPANDABLE)
    return read_response(
        caller,
        lambda uow: render_payment_method(
            uow.session,
            payment_methods.retrieve(uow, caller.ctx, pm_id),
            expand,
            caller.ctx.livemode,
        ),
    )


@router.post(
    "/{pm_id}/attach",
    summary="Attach a payment method to a customer",
    openapi_extra=body_doc(AttachPaymentMethodParams),
)
def attach_payment_method(
    pm_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(AttachPaymentMethodParams, params)
    expand = check_expand(p.expand, PM_EXPANDABLE)
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(extra={"pm": payment_methods.attach(uow, ctx, pm_id, p.customer)}),
        _render(expand, caller.ctx.livemode),
    )


@router.post(
    "/{pm_id}/detach",
    summary="Detach a payment method from its customer",
    openapi_extra=body_doc(DetachPaymentMethodParams),
)
def detach_payment_method(
    pm_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(DetachPaymentMethodParams, params)
    expand = check_expand(p.expand, PM_EXPANDABLE)
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(extra={"pm": payment_methods.detach(uow, ctx, pm_id)}),
        _render(expand, caller.ctx.livemode),
    )
