"""Routing configuration, a dry-run decision, and connector health (Strongbox extensions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.operations import run_write
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import body_doc, write_request
from strongbox.core.ids import new_id
from strongbox.core.params import validate_params
from strongbox.payments.steps import Step
from strongbox.routing.config import RoutingConfigIn
from strongbox.routing.engine import PaymentFacts
from strongbox.routing.schemas import DecideParams
from strongbox.routing.service import render_config

router = APIRouter(prefix="/v1/routing", tags=["routing"])


@router.get("", summary="Retrieve the routing configuration")
def retrieve_routing(request: Request) -> Response:
    caller = authenticate(request)
    with caller.runtime.db.reader() as uow:
        body = render_config(caller.runtime.routing.get_config(uow, caller.ctx))
    return json_response(200, dumps(body))


@router.post(
    "", summary="Replace the routing configuration", openapi_extra=body_doc(RoutingConfigIn)
)
def update_routing(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    svc = caller.runtime.routing
    return run_write(
        caller,
        write_request(request, params),
        lambda uow, ctx: Step(extra={"config": svc.update_config(uow, ctx, params)}),
        lambda session, step: render_config(step.extra["config"]),
    )


@router.post(
    "/decide",
    summary="Dry run: how a payment with these facts would be routed",
    openapi_extra=body_doc(DecideParams),
)
def decide_routing(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(DecideParams, params)
    facts = PaymentFacts(
        payment_id=p.payment_id or new_id("payment_intent"),
        amount=p.amount,
        currency=p.currency.lower(),
        brand=p.brand,
        card_country=p.card_country,
        metadata=dict(p.metadata),
        manual_capture=p.capture_method == "manual",
    )
    with caller.runtime.db.reader() as uow:
        routes = caller.runtime.routing.route(uow.session, caller.ctx.merchant_id, facts)
    first = routes[0]
    body = {
        "object": "routing_decision",
        "payment_id": facts.payment_id,
        "rule": first.decision.rule,
        "reason": first.decision.reason,
        "ranked": [{"connector_account": r.account_id, "connector": r.connector} for r in routes],
    }
    return json_response(200, dumps(body))


@router.get("/health", summary="Circuit states and per-connector call figures")
def routing_health(request: Request) -> Response:
    caller = authenticate(request)
    body = {
        "object": "list",
        "url": "/v1/routing/health",
        "has_more": False,
        "data": caller.runtime.health.snapshot(caller.ctx.merchant_id),
    }
    return json_response(200, dumps(body))
