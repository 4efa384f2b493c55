"""Stripe's ``/v1/balance`` and ``/v1/balance_transactions``, derived from the ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.routers.common import list_response, page_of, query_doc, read_response
from strongbox.core.params import validate_params
from strongbox.db.pagination import Page
from strongbox.db.uow import UnitOfWork
from strongbox.ledger import reports
from strongbox.ledger.schemas import ListBalanceTransactionsParams
from strongbox.payments.schemas import RetrieveParams
from strongbox.settlement import schedule

router = APIRouter(tags=["balance"])


@router.get("/v1/balance", summary="Retrieve the balance", openapi_extra=query_doc(RetrieveParams))
def retrieve_balance(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    ledger, ctx = caller.runtime.ledger, caller.ctx
    return read_response(
        caller,
        lambda uow: {
            **reports.balance(uow.session, ledger, ctx.merchant_id),
            "livemode": ctx.livemode,
        },
    )


@router.get(
    "/v1/balance_transactions",
    summary="List balance transactions",
    openapi_extra=query_doc(ListBalanceTransactionsParams),
)
def list_balance_transactions(
    request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ListBalanceTransactionsParams, params)
    merchant_id = caller.ctx.merchant_id
    payout = p.payout

    def fetch(uow: UnitOfWork) -> Page[reports.BalanceTxn]:
        # ``payout``: what the payout contains (settlement/schedule.py), 404 for no payout
        ids = schedule.contents(uow, merchant_id, payout) if payout is not None else None
        return reports.list_balance_transactions(
            uow.session, merchant_id, page_of(p), type_=p.type, source=p.source, transfer_ids=ids
        )

    return list_response(
        caller,
        "/v1/balance_transactions",
        fetch,
        lambda _, b: reports.render_balance_transaction(b),
    )


@router.get(
    "/v1/balance_transactions/{txn_id}",
    summary="Retrieve a balance transaction",
    openapi_extra=query_doc(RetrieveParams),
)
def retrieve_balance_transaction(
    txn_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    merchant_id = caller.ctx.merchant_id
    return read_response(
        caller,
        lambda uow: reports.render_balance_transaction(
            reports.retrieve_balance_transaction(uow.session, merchant_id, txn_id)
        ),
    )
