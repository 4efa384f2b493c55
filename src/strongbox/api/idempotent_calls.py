"""``Idempotency-Key`` for writes that call a provider between their own transactions (the
Financial Connections routes), where ``operations.run_write``'s one-transaction phase 1 does
not fit.

    [tx] take the key (or replay its stored response)           → commit
    [--] the use case: its transactions and provider calls, each committed on its own
    [tx] store the response (or the error) on the key           → commit

A request sent again with the same key and parameters gets the stored response
(``Idempotent-Replayed: true``) and does nothing; with other parameters it is 400
``idempotency_error``; while the first one runs, 409. If the process dies during the use case,
the key is released after the lock timeout and a retry runs it again: the Financial
Connections use cases are safe to repeat (a completed session answers itself, a pending
refresh is not queued twice, a disconnected account stays disconnected).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.responses import Response

from strongbox.api.context import Caller
from strongbox.api.operations import WriteRequest
from strongbox.api.responses import dumps, error_body, json_response
from strongbox.core import metrics
from strongbox.core.errors import StrongboxError, unexpected_error
from strongbox.events.types import RequestContext
from strongbox.idempotency import service as idem

UseCase = Callable[[RequestContext], dict[str, Any]]


def run_idempotent(caller: Caller, req: WriteRequest, use_case: UseCase) -> Response:
    """Run ``use_case`` (which answers a 200 body or raises a ``StrongboxError``) under the
    request's ``Idempotency-Key``, if it has one."""
    key = req.idempotency_key
    if key is None:
        return json_response(200, dumps(use_case(caller.ctx)), _headers(caller, None))
    idem.check_key(key)
    rt = caller.runtime
    fp = idem.fingerprint(req.method, req.path, req.params)
    lock_timeout = timedelta(seconds=rt.settings.idempotency_lock_timeout_seconds)
    with rt.db.unit_of_work() as uow:
        begun = idem.begin(
            uow,
            merchant_id=caller.ctx.merchant_id,
            key=key,
            method=req.method,
            path=req.path,
            request_fingerprint=fp,
            request_id=caller.ctx.request_id,
            lock_timeout=lock_timeout,
        )
        uow.commit()
    if begun.replay is not None:
        metrics.IDEMPOTENT_REPLAYS.inc()
        headers = _headers(caller, key, replayed=True)
        if begun.replay.request_id:
            headers["Original-Request"] = begun.replay.request_id
        return json_response(begun.replay.status, begun.replay.body, headers)
    assert begun.record_id is not None
    record_id = begun.record_id
    ctx = dataclasses.replace(caller.ctx, idempotency_record_id=record_id)
    try:
        body = dumps(use_case(ctx))
    except StrongboxError as exc:
        _store(caller, record_id, exc.status, error_body(exc))
        raise
    except Exception:
        err = unexpected_error()
        _store(caller, record_id, err.status, error_body(err))
        raise
    _store(caller, record_id, 200, body)
    return json_response(200, body, _headers(caller, key))


def _headers(caller: Caller, key: str | None, replayed: bool = False) -> dict[str, str]:
    headers = {"Request-Id": caller.ctx.request_id or ""}
    if key is not None:
        headers["Idempotency-Key"] = key
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


def _store(caller: Caller, record_id: str, status: int, body: bytes) -> None:
    with caller.runtime.db.unit_of_work() as uow:
        idem.store_response(uow, record_id, status, body)
        uow.commit()
