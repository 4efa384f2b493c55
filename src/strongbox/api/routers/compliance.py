"""``/v1/compliance/reports``: the signed reports of the PCI DSS self-checks (issue 18).

Reports describe the whole installation. Until operator roles land (issue 17: the auditor
role), any secret key of the installation reads them; docs/compliance.md says so.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.routers.common import (
    list_expand,
    list_response,
    page_of,
    query_doc,
    read_response,
)
from strongbox.compliance import repository, service
from strongbox.core.params import ListParams, Params, validate_params

router = APIRouter(prefix="/v1/compliance", tags=["compliance"])


class RetrieveReportParams(Params):
    """A retrieve takes no parameters (unknown ones are errors)."""


@router.get(
    "/reports",
    summary="List compliance reports (newest first)",
    openapi_extra=query_doc(ListParams),
)
def list_reports(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListParams, params)
    list_expand(p.expand, frozenset())
    return list_response(
        caller,
        "/v1/compliance/reports",
        lambda uow: repository.list_reports(uow.session, page_of(p)),
        lambda _, r: service.render_report(r),
    )


@router.get("/reports/{report_id}", summary="Retrieve a compliance report")
def retrieve_report(
    report_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveReportParams, params)
    return read_response(
        caller, lambda uow: service.render_report(service.retrieve(uow.session, report_id))
    )
