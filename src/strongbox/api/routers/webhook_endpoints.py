"""``/v1/webhook_endpoints``: Stripe's webhook endpoints API, plus secret rotation, the
delivery and attempt logs, and manual redelivery (Strongbox extensions)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.responses import dumps, json_response
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
from strongbox.core.params import Expand, ListParams, Params, validate_params
from strongbox.core.secret import Secret
from strongbox.payments.schemas import check_expand
from strongbox.payments.steps import Step
from strongbox.webhooks import service
from strongbox.webhooks.schemas import (
    CreateEndpointParams,
    ListAttemptsParams,
    RedeliverParams,
    RotateSecretParams,
    UpdateEndpointParams,
    render_attempt,
    render_delivery,
    render_endpoint,
)

router = APIRouter(prefix="/v1/webhook_endpoints", tags=["webhook endpoints"])
NO_EXPAND: frozenset[str] = frozenset()


class RetrieveEndpointParams(Params):
    expand: Expand | None = None


def _render(session: Any, step: Step) -> Any:
    return step.extra["body"]


def _with_secret(resp: Response, secret: list[Secret[str]]) -> Response:
    """Add the secret to a fresh (not replayed) 200 response. The response stored on the
    idempotency key never holds it: a secret is shown once and is not readable at rest."""
    if resp.status_code != 200 or not secret or resp.headers.get("idempotent-replayed"):
        return resp
    body = orjson.loads(bytes(resp.body))
    body["secret"] = secret[0].reveal()
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
    return json_response(200, dumps(body), headers)


@router.post("", summary="Create a webhook endpoint", openapi_extra=body_doc(CreateEndpointParams))
def create_endpoint(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(CreateEndpointParams, params)
    check_expand(p.expand, NO_EXPAND)
    sealer = caller.runtime.sealer
    secret: list[Secret[str]] = []

    def phase1(uow: Any, ctx: Any) -> Step:
        e, s = service.create_endpoint(uow, ctx, sealer, p)
        secret.append(s)
        return Step(extra={"body": render_endpoint(e, ctx.livemode)})

    resp = run_write(caller, write_request(request, params), phase1, _render)
    return _with_secret(resp, secret)


@router.get("", summary="List webhook endpoints", openapi_extra=query_doc(ListParams))
def list_endpoints(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListParams, params)
    list_expand(p.expand, NO_EXPAND)
    return list_response(
        caller,
        "/v1/webhook_endpoints",
        lambda uow: service.list_endpoints(uow, caller.ctx, page_of(p), created_of(p)),
        lambda _, e: render_endpoint(e, caller.ctx.livemode),
    )


@router.get("/{endpoint_id}", summary="Retrieve a webhook endpoint")
def retrieve_endpoint(
    endpoint_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RetrieveEndpointParams, params)
    check_expand(p.expand, NO_EXPAND)
    return read_response(
        caller,
        lambda uow: render_endpoint(
            service.require_endpoint(uow, caller.ctx, endpoint_id), caller.ctx.livemode
        ),
    )


@router.post(
    "/{endpoint_id}",
    summary="Update a webhook endpoint",
    openapi_extra=body_doc(UpdateEndpointParams),
)
def update_endpoint(
    endpoint_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(UpdateEndpointParams, params)
    check_expand(p.expand, NO_EXPAND)

    def phase1(uow: Any, ctx: Any) -> Step:
        e = service.update_endpoint(uow, ctx, endpoint_id, p)
        return Step(extra={"body": render_endpoint(e, ctx.livemode)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.delete("/{endpoint_id}", summary="Delete a webhook endpoint")
def delete_endpoint(
    endpoint_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    validate_params(Params, params)

    def phase1(uow: Any, ctx: Any) -> Step:
        return Step(extra={"body": service.delete_endpoint(uow, ctx, endpoint_id)})

    return run_write(caller, write_request(request, params), phase1, _render)


@router.post(
    "/{endpoint_id}/rotate_secret",
    summary="Roll the signing secret (both are signed with during the overlap)",
    openapi_extra=body_doc(RotateSecretParams),
)
def rotate_secret(
    endpoint_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RotateSecretParams, params)
    check_expand(p.expand, NO_EXPAND)
    sealer = caller.runtime.sealer
    secret: list[Secret[str]] = []

    def phase1(uow: Any, ctx: Any) -> Step:
        e, s = service.rotate_secret(uow, ctx, sealer, endpoint_id, p.expires_in)
        secret.append(s)
        return Step(extra={"body": render_endpoint(e, ctx.livemode)})

    resp = run_write(caller, write_request(request, params), phase1, _render)
    return _with_secret(resp, secret)


@router.post(
    "/{endpoint_id}/redeliver",
    summary="Deliver an event to this endpoint again, now",
    openapi_extra=body_doc(RedeliverParams),
)
def redeliver(
    endpoint_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(RedeliverParams, params)
    check_expand(p.expand, NO_EXPAND)

    def phase1(uow: Any, ctx: Any) -> Step:
        d = service.redeliver(uow, ctx, endpoint_id, p.event)
        uow.after_commit(lambda: _wake_delivery(request))
        return Step(extra={"body": render_delivery(d)})

    return run_write(caller, write_request(request, params), phase1, _render)


def _wake_delivery(request: Request) -> None:
    workers = getattr(request.app.state, "workers", None)
    for loop in getattr(workers, "loops", []):
        if loop.name == "strongbox-webhook-delivery":
            loop.wake()


@router.get(
    "/{endpoint_id}/attempts",
    summary="List delivery attempts to this endpoint",
    openapi_extra=query_doc(ListAttemptsParams),
)
def list_attempts(
    endpoint_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ListAttemptsParams, params)
    list_expand(p.expand, NO_EXPAND)
    return list_response(
        caller,
        f"/v1/webhook_endpoints/{endpoint_id}/attempts",
        lambda uow: service.list_attempts(
            uow, caller.ctx, endpoint_id, page_of(p), p.event, created_of(p)
        ),
        lambda _, a: render_attempt(a),
    )


@router.get(
    "/{endpoint_id}/deliveries",
    summary="List deliveries (one per event) to this endpoint",
    openapi_extra=query_doc(ListParams),
)
def list_deliveries(
    endpoint_id: str, request: Request, params: dict[str, Any] = Depends(params_of)
) -> Response:
    caller = authenticate(request)
    p = validate_params(ListParams, params)
    list_expand(p.expand, NO_EXPAND)
    return list_response(
        caller,
        f"/v1/webhook_endpoints/{endpoint_id}/deliveries",
        lambda uow: service.list_deliveries(
            uow, caller.ctx, endpoint_id, page_of(p), created_of(p)
        ),
        lambda _, d: render_delivery(d),
    )
