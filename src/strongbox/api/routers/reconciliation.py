"""Reconciliation: report imports, runs (one account's day matched) and exceptions."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import Caller, authenticate, params_of
from strongbox.api.operations import WriteRequest, run_write
from strongbox.api.routers.common import (
    body_doc,
    list_response,
    page_of,
    query_doc,
    read_response,
    write_request,
)
from strongbox.core.errors import InvalidRequestError
from strongbox.core.params import ListParams, validate_params
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.payments.schemas import RetrieveParams
from strongbox.payments.steps import Step
from strongbox.reconciliation import repository as repo
from strongbox.reconciliation import service as recon
from strongbox.reconciliation.schemas import (
    CreateRunParams,
    ImportParams,
    ListExceptionsParams,
    ListRunsParams,
    ResolveParams,
    render_exception,
    render_import,
    render_run,
)

router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"])

#: Largest report accepted over HTTP (bigger files: ``strongbox recon import``).
MAX_REPORT_BYTES = 64 * 1024 * 1024


def _body(session: Any, step: Step) -> Any:
    return step.extra["body"]


# ------------------------------------------------------------------ imports


@router.post(
    "/report_imports",
    summary="Import a gateway report (body: the file; query: connector_account, format)",
)
async def create_import(request: Request) -> Response:
    caller = await to_thread.run_sync(authenticate, request)
    params = dict(request.query_params)
    p = validate_params(ImportParams, params)
    raw = await request.body()
    if len(raw) > MAX_REPORT_BYTES:
        raise InvalidRequestError(
            f"The report is larger than {MAX_REPORT_BYTES} bytes; use strongbox recon import.",
            code="request_too_large",
            status=413,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequestError(
            "The report is not UTF-8 text.", code="report_invalid", param="report"
        ) from None
    if "\x00" in text:
        raise InvalidRequestError(
            "The report contains a NUL character.", code="report_invalid", param="report"
        )
    digest = hashlib.sha256(raw).hexdigest()
    return await to_thread.run_sync(_run_import, caller, request, p, params, text, digest)


def _run_import(
    caller: Caller,
    request: Request,
    p: ImportParams,
    params: dict[str, Any],
    text: str,
    digest: str,
) -> Response:
    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        record = recon.import_report(
            uow, ctx, p.connector_account, text, fmt=p.format, filename=p.filename
        )
        return Step(extra={"body": render_import(record)})

    req = WriteRequest(
        method=request.method,
        path=request.url.path,
        params={**params, "sha256": digest},
        idempotency_key=request.headers.get("idempotency-key"),
    )
    return run_write(caller, req, phase1, _body)


@router.get("/report_imports", summary="List report imports")
def list_imports(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListParams, params)
    return list_response(
        caller,
        "/v1/reconciliation/report_imports",
        lambda uow: repo.list_imports(uow.session, caller.ctx.merchant_id, page_of(p)),
        lambda _, r: render_import(r),
    )


# ------------------------------------------------------------------ runs


def _render_run(uow: UnitOfWork, run: Any) -> dict[str, Any]:
    n = repo.count_open(uow.session, run.merchant_id, run.connector_account_id, run.day)
    return render_run(run, n)


@router.post(
    "/runs",
    summary="Reconcile one connector account's day",
    openapi_extra=body_doc(CreateRunParams),
)
def create_run(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateRunParams, params)

    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        out = recon.run_day(
            uow, ctx, p.connector_account, p.date, window=timedelta(days=p.window_days)
        )
        return Step(extra={"body": _render_run(uow, out.run)})

    return run_write(caller, write_request(request, params), phase1, _body)


@router.get("/runs", summary="List reconciliation runs", openapi_extra=query_doc(ListRunsParams))
def list_runs(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListRunsParams, params)
    return list_response(
        caller,
        "/v1/reconciliation/runs",
        lambda uow: repo.list_runs(
            uow.session,
            caller.ctx.merchant_id,
            page_of(p),
            connector_account=p.connector_account,
            day=p.date,
        ),
        _render_run,
    )


@router.get("/runs/{run_id}", summary="Retrieve a reconciliation run")
def retrieve_run(
    run_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    return read_response(
        caller,
        lambda uow: _render_run(uow, recon.get_run(uow, caller.ctx.merchant_id, run_id)),
    )


# ------------------------------------------------------------------ exceptions


@router.get(
    "/exceptions",
    summary="List reconciliation exceptions",
    openapi_extra=query_doc(ListExceptionsParams),
)
def list_exceptions(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListExceptionsParams, params)
    return list_response(
        caller,
        "/v1/reconciliation/exceptions",
        lambda uow: repo.list_exceptions(
            uow.session,
            caller.ctx.merchant_id,
            page_of(p),
            status=p.status,
            outcome=p.outcome,
            connector_account=p.connector_account,
            day=p.date,
        ),
        lambda _, e: render_exception(e),
    )


@router.get("/exceptions/{exc_id}", summary="Retrieve a reconciliation exception")
def retrieve_exception(
    exc_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    return read_response(
        caller,
        lambda uow: render_exception(recon.get_exception(uow, caller.ctx.merchant_id, exc_id)),
    )


@router.post(
    "/exceptions/{exc_id}/resolve",
    summary="Resolve a reconciliation exception (accept_gateway, timing, write_off)",
    openapi_extra=body_doc(ResolveParams),
)
def resolve_exception(
    exc_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ResolveParams, params)

    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        exc = recon.resolve_exception(uow, ctx, exc_id, p.action, p.note)
        return Step(extra={"body": render_exception(exc)})

    return run_write(caller, write_request(request, params), phase1, _body)
