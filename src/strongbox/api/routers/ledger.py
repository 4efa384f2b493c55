"""Ledger accounts, transfers (one, or a batch of up to 8,190) and fee schedules."""

from __future__ import annotations

from typing import Any

import orjson
from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import Caller, authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import (
    body_doc,
    created_of,
    list_response,
    page_of,
    query_doc,
    read_response,
    write_request,
)
from strongbox.core.errors import InvalidRequestError, LedgerError, StrongboxError
from strongbox.core.money import parse_currency
from strongbox.core.params import validate_params
from strongbox.db.pagination import Page
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.ledger.fees import ANY_CURRENCY
from strongbox.ledger.models import SYSTEM_PURPOSES, LedgerAccount
from strongbox.ledger.schemas import (
    FLAG_VALUES,
    CreateAccountParams,
    FeeParams,
    ListAccountsParams,
    ListTransfersParams,
    TransferParams,
    render_account,
    render_transfer,
)
from strongbox.ledger.service import MAX_BATCH, Balance, TransferRequest, TransferResult
from strongbox.payments.schemas import RetrieveParams, render_list
from strongbox.payments.steps import Step

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

#: Largest batch body: 8,190 transfers with metadata fit comfortably.
MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024


def _body(session: Any, step: Step) -> Any:
    return step.extra["body"]


# ------------------------------------------------------------------ accounts


@router.post(
    "/accounts", summary="Create a ledger account", openapi_extra=body_doc(CreateAccountParams)
)
def create_account(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateAccountParams, params)
    currency = parse_currency(p.currency).code.lower()
    if p.purpose in SYSTEM_PURPOSES:
        raise LedgerError(
            f"The purpose '{p.purpose}' is reserved for the accounts Strongbox keeps itself.",
            code="account_purpose_reserved",
            param="purpose",
        )
    ledger = caller.runtime.ledger

    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        acct, _created = ledger.create_account(
            uow, ctx.merchant_id, p.purpose, currency, FLAG_VALUES[p.flags], p.metadata
        )
        bal = ledger.balances(uow.session, ctx.merchant_id, [acct.id])[acct.id]
        return Step(extra={"body": render_account(acct, bal)})

    return run_write(caller, write_request(request, params), phase1, _body)


@router.get(
    "/accounts", summary="List ledger accounts", openapi_extra=query_doc(ListAccountsParams)
)
def list_accounts(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListAccountsParams, params)
    ledger = caller.runtime.ledger
    merchant_id = caller.ctx.merchant_id

    def fetch(uow: UnitOfWork) -> Page[tuple[LedgerAccount, Balance]]:
        """The page of accounts, each with its balance (one balances query per page)."""
        page = ledger.list_accounts(uow.session, merchant_id, page_of(p), p.currency)
        sums = ledger.balances(uow.session, merchant_id, [a.id for a in page.data])
        return Page([(a, sums[a.id]) for a in page.data], page.has_more)

    return list_response(
        caller, "/v1/ledger/accounts", fetch, lambda _, item: render_account(*item)
    )


@router.get(
    "/accounts/{account_id}",
    summary="Retrieve a ledger account",
    openapi_extra=query_doc(RetrieveParams),
)
def retrieve_account(
    account_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    ledger = caller.runtime.ledger
    merchant_id = caller.ctx.merchant_id

    def read(uow: UnitOfWork) -> dict[str, Any]:
        acct = ledger.get_account(uow, merchant_id, account_id)
        return render_account(acct, ledger.balances(uow.session, merchant_id, [acct.id])[acct.id])

    return read_response(caller, read)


# ------------------------------------------------------------------ transfers


@router.post(
    "/transfers", summary="Create a ledger transfer", openapi_extra=body_doc(TransferParams)
)
def create_transfer(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(TransferParams, params)
    if p.linked:
        raise InvalidRequestError(
            "A single transfer cannot be linked; send linked transfers to "
            "/v1/ledger/transfers/batch.",
            code="linked_event_chain_open",
            param="linked",
        )
    req = p.to_request()
    ledger = caller.runtime.ledger

    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        (res,) = ledger.create_transfers_retrying(uow, ctx.merchant_id, [req])
        if res.error is not None:
            raise res.error
        assert res.transfer is not None
        return Step(extra={"body": render_transfer(res.transfer)})

    return run_write(caller, write_request(request, params), phase1, _body)


def _item_error(index: int, exc: StrongboxError) -> LedgerError:
    param = f"transfers[{index}][{exc.param}]" if exc.param else f"transfers[{index}]"
    return LedgerError(exc.message, code=exc.code, param=param)


def _render_result(res: TransferResult) -> dict[str, Any]:
    if res.error is not None:
        return {
            "object": "ledger.transfer_result",
            "index": res.index,
            "status": "failed",
            "transfer": None,
            "error": res.error.to_dict()["error"],
        }
    assert res.transfer is not None
    return {
        "object": "ledger.transfer_result",
        "index": res.index,
        "status": "replayed" if res.replayed else "created",
        "transfer": render_transfer(res.transfer),
        "error": None,
    }


def _invalid(message: str, param: str | None = "transfers") -> InvalidRequestError:
    return InvalidRequestError(message, code="parameter_invalid", param=param)


async def _batch_params(request: Request) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise _invalid('Send the batch as application/json: {"transfers": [...]}.', None)
    body = await request.body()
    if len(body) > MAX_BATCH_BODY_BYTES:
        raise InvalidRequestError(
            f"The request body is larger than {MAX_BATCH_BODY_BYTES} bytes.",
            code="request_too_large",
            status=413,
        )
    if b"\\u0000" in body or b"\x00" in body:
        raise _invalid("The request body contains a NUL character.", None)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid("The request body is not valid JSON.", None) from None
    if not isinstance(data, dict) or set(data) - {"transfers"}:
        raise _invalid("The body must be an object with one key, transfers.", None)
    items = data.get("transfers")
    if not isinstance(items, list) or not items:
        raise _invalid("transfers must be a non-empty array.")
    if len(items) > MAX_BATCH:
        raise InvalidRequestError(
            f"A batch holds at most {MAX_BATCH} transfers; this one has {len(items)}.",
            code="too_many_transfers",
            param="transfers",
        )
    return {"transfers": items}


@router.post(
    "/transfers/batch",
    summary="Create up to 8,190 ledger transfers (atomic per linked chain)",
)
async def create_transfers_batch(request: Request) -> Response:
    caller = await to_thread.run_sync(authenticate, request)
    params = await _batch_params(request)
    return await to_thread.run_sync(_run_batch, caller, request, params)


def _run_batch(caller: Caller, request: Request, params: dict[str, Any]) -> Response:
    items: list[Any] = params["transfers"]
    reqs: list[TransferRequest] = []
    invalid: dict[int, LedgerError] = {}
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise _invalid("Each transfer must be an object.", None)
            reqs.append(validate_params(TransferParams, item).to_request())
        except StrongboxError as exc:
            invalid[i] = _item_error(i, exc)
            linked = isinstance(item, dict) and item.get("linked") in (True, "true")
            reqs.append(TransferRequest(id=f"invalid.{i}", linked=linked))
    ledger = caller.runtime.ledger

    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        results = ledger.create_transfers_retrying(uow, ctx.merchant_id, reqs, invalid=invalid)
        body = {
            "object": "list",
            "url": "/v1/ledger/transfers/batch",
            "has_more": False,
            "data": [_render_result(r) for r in results],
        }
        return Step(extra={"body": body})

    return run_write(caller, write_request(request, params), phase1, _body)


@router.get(
    "/transfers", summary="List ledger transfers", openapi_extra=query_doc(ListTransfersParams)
)
def list_transfers(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListTransfersParams, params)
    ledger = caller.runtime.ledger
    return list_response(
        caller,
        "/v1/ledger/transfers",
        lambda uow: ledger.list_transfers(
            uow.session,
            caller.ctx.merchant_id,
            page_of(p),
            account=p.account,
            source=p.source,
            created=created_of(p),
        ),
        lambda _, t: render_transfer(t),
    )


@router.get(
    "/transfers/{transfer_id}",
    summary="Retrieve a ledger transfer",
    openapi_extra=query_doc(RetrieveParams),
)
def retrieve_transfer(
    transfer_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    ledger = caller.runtime.ledger
    return read_response(
        caller,
        lambda uow: render_transfer(ledger.get_transfer(uow, caller.ctx.merchant_id, transfer_id)),
    )


# ------------------------------------------------------------------ fees


def _render_fee(
    merchant_id: str, currency: str, bps: int, fixed: int, source: str
) -> dict[str, Any]:
    return {
        "object": "ledger.fee_schedule",
        "currency": currency,
        "percent_bps": bps,
        "fixed_amount": fixed,
        "source": source,
    }


@router.post(
    "/fees", summary="Set the merchant's processing fee", openapi_extra=body_doc(FeeParams)
)
def set_fee(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(FeeParams, params)
    currency = (
        ANY_CURRENCY if p.currency == ANY_CURRENCY else parse_currency(p.currency).code.lower()
    )
    fees = caller.runtime.fees

    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        row = fees.set_schedule(uow, ctx.merchant_id, currency, p.percent_bps, p.fixed_amount)
        return Step(
            extra={
                "body": _render_fee(
                    ctx.merchant_id, row.currency, row.percent_bps, row.fixed_amount, "merchant"
                )
            }
        )

    return run_write(caller, write_request(request, params), phase1, _body)


@router.get("/fees", summary="The merchant's processing fees")
def list_fees(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    fees = caller.runtime.fees
    with caller.runtime.db.reader() as uow:
        rows = fees.list_schedules(uow, caller.ctx.merchant_id)
        data = [
            _render_fee(
                caller.ctx.merchant_id, r.currency, r.percent_bps, r.fixed_amount, "merchant"
            )
            for r in rows
        ]
    if not any(r["currency"] == ANY_CURRENCY for r in data):
        d = fees.default
        data.append(_render_fee(caller.ctx.merchant_id, ANY_CURRENCY, d.percent_bps, 0, "default"))
        for cur, fixed in sorted(d.fixed.items()):
            if not any(r["currency"] == cur for r in data):
                data.append(
                    _render_fee(caller.ctx.merchant_id, cur, d.percent_bps, fixed, "default")
                )
    return json_response(200, dumps(render_list("/v1/ledger/fees", data, False)))
