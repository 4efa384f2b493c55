from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.routers.common import (
    created_of,
    list_response,
    page_of,
    query_doc,
    read_response,
)
from strongbox.core.errors import InvalidRequestError
from strongbox.core.params import ListParams, validate_params
from strongbox.events import service
from strongbox.payments.schemas import RetrieveParams

router = APIRouter(prefix="/v1/events", tags=["events"])


class ListEventsParams(ListParams):
    type: str | None = Field(default=None, max_length=100)
    types: list[str] | None = Field(default=None, max_length=20)


@router.get("", summary="List events", openapi_extra=query_doc(ListEventsParams))
def list_events(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListEventsParams, params)
    if p.type and p.types:
        raise InvalidRequestError(
            "You may only specify one of these parameters: type, types.",
            code="parameters_exclusive",
            param="types",
        )
    types = p.types or ([p.type] if p.type else None)
    merchant_id = caller.ctx.merchant_id
    return list_response(
        caller,
        "/v1/events",
        lambda uow: service.list_(uow.session, merchant_id, page_of(p), types, created_of(p)),
        lambda _, e: service.render_event(e, caller.ctx.livemode),
    )


@router.get("/{event_id}", summary="Retrieve an event", openapi_extra=query_doc(RetrieveParams))
def retrieve_event(
    event_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(RetrieveParams, params)
    merchant_id = caller.ctx.merchant_id
    return read_response(
        caller,
        lambda uow: service.render_event(
            service.retrieve(uow.session, merchant_id, event_id), caller.ctx.livemode
        ),
    )
