"""Runs a write request: idempotency key, phase 1, gateway call(s), phase 2 — each committed.

    [tx] take key (or replay) + validate + write attempt "started"   → commit (recovery point)
    [--] connector call, outside any transaction
    [tx] record outcome + events + store the response on the key     → commit (finished)

A crash between the two transactions leaves an attempt that the recovery worker resolves by
asking the gateway; it then stores the final response on the key.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from strongbox.api.context import Caller
from strongbox.api.responses import dumps, error_body, json_response
from strongbox.connectors.base import TokenDetails
from strongbox.core import metrics
from strongbox.core.errors import (
    IdempotencyKeyInUseError,
    InvalidRequestError,
    StrongboxError,
    unexpected_error,
)
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.idempotency import service as idem
from strongbox.payments import gateway, outcomes, payment_methods
from strongbox.payments.gateway_tokens import (
    TokenTarget,
    from_payment_method_data,
    requested_token,
)
from strongbox.payments.schemas import PaymentMethodDataParams
from strongbox.payments.steps import Step

log = logging.getLogger(__name__)

Phase1 = Callable[[UnitOfWork, RequestContext], Step]
Render = Callable[[Session, Step], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class WriteRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


def render_step(session: Session, step: Step, render: Render) -> tuple[int, bytes]:
    if step.error is not None:
        return step.error.status, error_body(step.error)
    return 200, dumps(render(session, step))


def _headers(caller: Caller, key: str | None, replayed: bool = False) -> dict[str, str]:
    headers = {"Request-Id": caller.ctx.request_id or ""}
    if key is not None:
        headers["Idempotency-Key"] = key
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


def run_write(caller: Caller, req: WriteRequest, phase1: Phase1, render: Render) -> Response:
    rt = caller.runtime
    svc = rt.payments
    key = req.idempotency_key
    fp = idem.fingerprint(req.method, req.path, req.params) if key is not None else ""
    if key is not None:
        idem.check_key(key)
    ctx = caller.ctx
    lock_timeout = timedelta(seconds=rt.settings.idempotency_lock_timeout_seconds)
    record_id: str | None = None
    try:
        with rt.db.unit_of_work() as uow:
            if key is not None:
                begun = idem.begin(
                    uow,
                    merchant_id=ctx.merchant_id,
                    key=key,
                    method=req.method,
                    path=req.path,
                    request_fingerprint=fp,
                    request_id=ctx.request_id,
                    lock_timeout=lock_timeout,
                )
                if begun.replay is not None:
                    uow.commit()
                    metrics.IDEMPOTENT_REPLAYS.inc()
                    headers = _headers(caller, key, replayed=True)
                    if begun.replay.request_id:
                        headers["Original-Request"] = begun.replay.request_id
                    return json_response(begun.replay.status, begun.replay.body, headers)
                record_id = begun.record_id
                ctx = dataclasses.replace(ctx, idempotency_record_id=record_id)
            step = phase1(uow, ctx)
            if step.call is not None:
                if record_id:
                    idem.mark_attempt_created(uow, record_id)
                status, body = 0, b""
            else:
                status, body = render_step(uow.session, step, render)
                if record_id:
                    idem.store_response(uow, record_id, status, body)
            uow.commit()
    except StrongboxError as exc:
        if exc.type == "idempotency_error" or record_id is None:
            raise
        # Execution began and failed: its writes rolled back; store the error on the key.
        _store_failure(caller, req, fp, exc.status, error_body(exc))
        raise
    except Exception:
        if record_id is not None:
            api_err = unexpected_error()
            _store_failure(caller, req, fp, api_err.status, error_body(api_err))
        raise

    while step.call is not None:
        call = step.call
        with rt.leases.hold(call):  # recovery leaves the attempt alone while we wait
            outcome = gateway.execute(svc, call)
        with rt.db.unit_of_work() as uow:
            step = outcomes.finish(svc, uow, ctx, call, outcome)
            if step.call is not None:
                if record_id:
                    idem.mark_attempt_created(uow, record_id)
            else:
                status, body = render_step(uow.session, step, render)
                if record_id:
                    idem.store_response(uow, record_id, status, body)
            uow.commit()
    return json_response(status, body, _headers(caller, key))


def describe_gateway_token(
    caller: Caller, req: WriteRequest, token: str, account: str
) -> tuple[TokenTarget, TokenDetails] | None:
    """Before a request that wraps a gateway's token opens its transaction: the account, and
    the card as its gateway describes it (a network call, so never inside a transaction).

    None when the request's ``Idempotency-Key`` will not execute again: its response is
    stored (``run_write`` replays it) or its first request still owns the key or may have
    charged (409 until resolved). No gateway read then, so a retry never spends a single-use
    token its first request used; use ``replay_only`` as phase 1.
    """
    rt = caller.runtime
    svc = rt.payments
    if req.idempotency_key is not None:
        idem.check_key(req.idempotency_key)  # a bad key costs no gateway read
    lock_timeout = timedelta(seconds=rt.settings.idempotency_lock_timeout_seconds)
    with rt.db.reader() as uow:
        if req.idempotency_key is not None and not idem.would_execute(
            uow.session, caller.ctx.merchant_id, req.idempotency_key, uow.clock.now(), lock_timeout
        ):
            return None
        target = payment_methods.gateway_token_target(svc, uow, caller.ctx, token, account)
    return target, payment_methods.describe_gateway_token(svc, target)


def replay_only(uow: UnitOfWork, ctx: RequestContext) -> Step:
    """Phase 1 of a request ``describe_gateway_token`` saw would not execute: ``begin``
    replays or answers 409 before this runs. Reached only if the key changed in between (it
    expired in that instant): nothing was done, and the client retries."""
    raise IdempotencyKeyInUseError(
        "This idempotency key's stored response expired while this request ran. Retry it."
    )


@contextmanager
def nested_params(prefix: str) -> Iterator[None]:
    """Errors raised inside name their parameter under ``prefix`` (``card[token]`` →
    ``payment_method_data[card][token]``)."""
    try:
        yield
    except StrongboxError as exc:
        if exc.param and not exc.param.startswith(prefix):
            old = exc.param
            head, bracket, rest = old.partition("[")
            exc.param = f"{prefix}[{head}]{bracket}{rest}"
            exc.message = exc.message.replace(old, exc.param)
        raise


def with_payment_method_data(
    caller: Caller,
    req: WriteRequest,
    payment_method: str | None,
    data: PaymentMethodDataParams | None,
    run: Callable[[UnitOfWork, RequestContext, str | None], Step],
) -> Phase1:
    """Phase 1 of a PaymentIntent create/confirm that may carry ``payment_method_data``: the
    payment method is made in the same transaction as the intent (so a refused intent leaves
    none), its gateway asked beforehand. ``run`` gets the payment method to use, or None."""
    if data is None:
        return lambda uow, ctx: run(uow, ctx, None)
    if payment_method is not None:
        raise InvalidRequestError(
            "You cannot provide both payment_method and payment_method_data.",
            param="payment_method_data",
        )
    if req.idempotency_key is not None:
        idem.check_key(req.idempotency_key)  # a header, not a payment_method_data field
    with nested_params("payment_method_data"):
        pm_params = from_payment_method_data(data)
        gateway = requested_token(pm_params)
        described = None if gateway is None else describe_gateway_token(caller, req, *gateway)
    svc = caller.runtime.payments
    if gateway is None:  # one of Stripe's test tokens: a test card, with the metadata given

        def test_card(uow: UnitOfWork, ctx: RequestContext) -> Step:
            with nested_params("payment_method_data"):
                pm = payment_methods.create_card(svc, uow, ctx, pm_params)
            return run(uow, ctx, pm.id)

        return test_card
    if described is None:
        return replay_only

    def phase1(uow: UnitOfWork, ctx: RequestContext) -> Step:
        with nested_params("payment_method_data"):
            pm = payment_methods.create_gateway(svc, uow, ctx, pm_params, *described)
        return run(uow, ctx, pm.id)

    return phase1


def _store_failure(caller: Caller, req: WriteRequest, fp: str, status: int, body: bytes) -> None:
    assert req.idempotency_key is not None
    try:
        with caller.runtime.db.unit_of_work() as uow:
            idem.store_new_response(
                uow,
                merchant_id=caller.ctx.merchant_id,
                key=req.idempotency_key,
                method=req.method,
                path=req.path,
                request_fingerprint=fp,
                request_id=caller.ctx.request_id,
                status=status,
                body=body,
            )
            uow.commit()
    except Exception:
        log.exception("could not store the failed response for an idempotency key")
