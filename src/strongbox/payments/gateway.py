"""The one place a payment reaches a gateway: a connector call under its circuit breaker, with
retries only for errors known to be safe. No database access here, ever: the edge calls this
between the transaction that recorded the attempt and the one that records its outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    ConnectorError,
    OperationResult,
    RetryableError,
    StatusRequest,
    UnknownOutcomeError,
    VoidRequest,
)
from strongbox.core import bridge, metrics
from strongbox.payments.deps import Payments, PaymentsConfig
from strongbox.payments.steps import GatewayCall, GatewayOutcome
from strongbox.routing.health import CircuitOpenError

log = logging.getLogger(__name__)

T = TypeVar("T")


def _status_label(result: OperationResult) -> str:
    return result.status.value


_RETRYING: dict[PaymentsConfig, Retrying] = {}


def retrying(config: PaymentsConfig) -> Retrying:
    """Retries for errors known to be safe (the gateway did not process the request), with
    exponential backoff and jitter; never through an open circuit. One per configuration
    (building it cost more than an in-process gateway call); each use copies it, as
    tenacity's ``Retrying.copy`` keeps calls apart."""
    found = _RETRYING.get(config)
    if found is None:
        found = _RETRYING.setdefault(config, _build_retrying(config))
    return found.copy()


def _build_retrying(config: PaymentsConfig) -> Retrying:
    return Retrying(
        retry=retry_if_exception_type(RetryableError)
        & retry_if_not_exception_type(CircuitOpenError),
        stop=stop_after_attempt(config.gateway_retries + 1),
        wait=wait_exponential_jitter(
            multiplier=config.retry_initial_seconds,
            max=config.retry_max_seconds,
            jitter=config.retry_initial_seconds,  # tenacity's default is 1 s
        ),
        reraise=True,
    )


def execute(deps: Payments, call: GatewayCall) -> GatewayOutcome:
    """Run one connector call. No database access here, ever (a call's ``precheck``, a bank
    debit's balance read, opens its own short transactions; none is open around it)."""
    if call.precheck is not None:
        checked = bridge.offload(call.precheck)  # a provider call: off the event loop
        if checked is not None:
            return checked
    connector = deps.connectors.get(call.connector)
    op = call.kind.value if not call.is_lookup else "status"

    def once() -> OperationResult:
        req = call.request
        if isinstance(req, StatusRequest):
            return connector.get_status(req)
        if isinstance(req, AuthorizeRequest):
            return connector.authorize(req)
        if isinstance(req, CaptureRequest):
            return connector.capture(req)
        if isinstance(req, VoidRequest):
            return connector.void(req)
        return connector.refund(req)

    # Recovery's lookups and replays bypass the breaker: it must be able to settle an
    # outcome at any time (few calls, each for an operation already started).
    recovering = call.is_lookup or call.replay
    result, error, seconds = guarded(
        deps,
        call.connector,
        op,
        call.merchant_id,
        None if recovering else (call.connector_account_id or call.connector),
        once,
        _status_label,
        blocking=connector.blocking,
    )
    return GatewayOutcome(
        result=result,
        error=error,
        seconds=seconds,
        from_lookup=call.is_lookup,
        from_replay=call.replay,
    )


def guarded(
    deps: Payments,
    connector: str,
    op: str,
    merchant_id: str,
    target: str | None,
    fn: Callable[[], T],
    label: Callable[[Any], str],  # the metrics label of a result
    *,
    blocking: bool = True,
) -> tuple[T | None, ConnectorError | None, float]:
    """One connector call (no database access here, ever): under the circuit breaker of
    ``(merchant_id, target)`` unless ``target`` is None, retried only on errors known to be
    safe, a connector bug taken as an unknown outcome (never "not charged"), counted in the
    gateway metrics. Returns the result or the error, and the seconds it took. A blocking
    call (network I/O) is made from a worker thread when the caller runs on the event loop
    (``core/bridge.py``)."""
    health = deps.health
    once = fn
    if health is not None and target is not None:
        guarded_target = target

        def once() -> T:
            return health.call(merchant_id, guarded_target, fn)

    def tries() -> T | None:
        result: T | None = None
        for attempt in retrying(deps.config):
            with attempt:
                result = once()
        return result

    start = time.perf_counter()
    result: T | None = None
    error: ConnectorError | None = None
    try:
        result = bridge.offload(tries) if blocking else tries()
    except ConnectorError as exc:
        error = exc
    except RetryError as exc:  # pragma: no cover - reraise=True makes this unreachable
        error = RetryableError(str(exc))
    except Exception as exc:
        log.exception("connector %s raised unexpectedly in %s", connector, op)
        error = UnknownOutcomeError(f"connector failure: {type(exc).__name__}")
    seconds = time.perf_counter() - start
    outcome = label(result) if result is not None else type(error).__name__
    metrics.GATEWAY_CALLS.labels(connector, op, outcome).inc()
    metrics.GATEWAY_LATENCY.labels(connector, op).observe(seconds)
    return result, error, seconds
