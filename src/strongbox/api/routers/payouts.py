"""``/v1/payouts``: Stripe's payouts (list, retrieve, create a manual payout, cancel a pending
one), and ``/v1/payout_schedule``: the merchant's payout schedule (a Strongbox extension; in
Stripe it is the account's ``settings.payouts.schedule``)."""

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
    write_request,
)
from strongbox.core.params import Params, validate_params
from strongbox.payments.schemas import check_expand
from strongbox.payments.steps import Step
from strongbox.settlement import payouts, schedule
from strongbox.settlement.schemas import (
    CancelPayoutParams,
    CreatePayoutParams,
    ListPayoutsParams,
    RetrievePayoutParams,
    ScheduleParams,
    render_payout,
    render_schedule,
)

router = APIRouter(tags=["payouts"])
NO_EXPAND: frozenset[str] = frozenset()


def _body(session: Any, step: Step) -> Any:
    return step.extra["body"]


@router.post("/v1/payouts", summary="Create a payout", openapi_extra=body_doc(CreatePayoutParams))
def create_payout(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreatePayoutParams, params)
    check_expand(p.expand, NO_EXPAND)
    ledger = caller.runtime.ledger

    def phase1(uow: Any, ctx: Any) -> Step:
        dest = p.destination
        if dest is None:
            s = schedule.get(uow, ctx.merchant_id)
            dest = s.destination if s is not None else None
        po = payouts.create(
            uow,
            ctx,
            ledger,
            amount=p.amount,
            currency=p.currency,
            method=p.method,
            destination=dest,
            description=p.description,
            statement_descriptor=p.statement_descriptor,
            metadata=p.metadata,
        )
        return Step(extra={"body": render_payout(po, ctx.livemode)})

    return run_write(caller, write_request(request, params), phase1, _body)


@router.get("/v1/payouts", summary="List payouts", openapi_extra=query_doc(ListPayoutsParams))
def list_payouts(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListPayoutsParams, params)
    list_expand(p.expand, NO_EXPAND)
    merchant_id = caller.ctx.merchant_id
    return list_response(
        caller,
        "/v1/payouts",
        lambda uow: payouts.list_(
            uow,
            merchant_id,
            page_of(p),
            status=p.status,
            destination=p.destination,
            created=created_of(p),
        ),
        lambda _, po: render_payout(po, caller.ctx.livemode),
    )


@router.get(
    "/v1/payouts/{payout_id}",
    summary="Retrieve a payout",
    openapi_extra=query_doc(RetrievePayoutParams),
)
def retrieve_payout(
    payout_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrievePayoutParams, params)
    check_expand(p.expand, NO_EXPAND)
    merchant_id = caller.ctx.merchant_id
    return read_response(
        caller,
        lambda uow: render_payout(
            payouts.retrieve(uow, merchant_id, payout_id), caller.ctx.livemode
        ),
    )


@router.post(
    "/v1/payouts/{payout_id}/cancel",
    summary="Cancel a pending payout",
    openapi_extra=body_doc(CancelPayoutParams),
)
def cancel_payout(
    payout_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(CancelPayoutParams, params)
    check_expand(p.expand, NO_EXPAND)
    ledger = caller.runtime.ledger

    def phase1(uow: Any, ctx: Any) -> Step:
        po = payouts.cancel(uow, ctx, ledger, payout_id)
        return Step(extra={"body": render_payout(po, ctx.livemode)})

    return run_write(caller, write_request(request, params), phase1, _body)


@router.get(
    "/v1/payout_schedule",
    summary="Retrieve the payout schedule",
    openapi_extra=query_doc(Params),
)
def retrieve_schedule(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    validate_params(Params, params)
    merchant_id = caller.ctx.merchant_id
    return read_response(caller, lambda uow: render_schedule(schedule.get(uow, merchant_id)))


@router.post(
    "/v1/payout_schedule",
    summary="Set the payout schedule (manual, daily, weekly; delay days)",
    openapi_extra=body_doc(ScheduleParams),
)
def update_schedule(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ScheduleParams, params)

    def phase1(uow: Any, ctx: Any) -> Step:
        return Step(extra={"body": render_schedule(schedule.set_(uow, ctx, p))})

    return run_write(caller, write_request(request, params), phase1, _body)
