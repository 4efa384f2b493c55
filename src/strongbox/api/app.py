"""FastAPI app factory: routers, Stripe-shaped error rendering, metrics, health, workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from strongbox import __version__
from strongbox.api.context import request_id
from strongbox.api.edge import Edge
from strongbox.api.metrics import install_token_route
from strongbox.api.openapi_doc import install_openapi
from strongbox.api.responses import dumps, error_response, json_response
from strongbox.api.routers import balance as balance_router
from strongbox.api.routers import customers, events, payment_intents, payment_methods, refunds
from strongbox.api.routers import ledger as ledger_router
from strongbox.api.security import TrustedProxies, allowed_methods, public_route
from strongbox.core.errors import (
    InvalidRequestError,
    StrongboxError,
    unexpected_error,
)
from strongbox.runtime import Runtime

log = logging.getLogger(__name__)

DESCRIPTION = """Strongbox: a self-hosted, Stripe-compatible payments API.

Bodies are `application/x-www-form-urlencoded` with Stripe's bracket notation
(`metadata[k]=v`, `expand[]=customer`) or JSON. Authenticate with
`Authorization: Bearer sk_test_…` (or HTTP basic with the key as user). Every POST accepts an
`Idempotency-Key` header with Stripe's semantics.
"""


def create_app(runtime: Runtime, *, run_workers: bool | None = None) -> FastAPI:
    start_workers = runtime.settings.run_workers if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints run in anyio's thread pool; keep it within the connection pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = runtime.settings.threads
        workers = None
        if start_workers:
            from strongbox.workers.loops import build_workers

            workers = build_workers(runtime)
            workers.start()
            app.state.workers = workers
        try:
            yield
        finally:
            if workers is not None:
                workers.stop()

    app = FastAPI(
        title="Strongbox",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
        # no OpenTelemetry here (metrics are Prometheus, /metrics): FastAPI's native hooks
        # otherwise look up three global providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime

    for module in (payment_intents, refunds, customers, payment_methods, events):
        app.include_router(module.router)
    from strongbox.api.routers import audit as audit_router

    app.include_router(audit_router.router)
    app.include_router(balance_router.router)
    app.include_router(ledger_router.router)

    # Hosted card fields and the origins allowed to embed them.
    from strongbox.api.routers import elements, merchant_origins

    app.include_router(merchant_origins.router)
    from strongbox.api.routers import account  # the settlement currency (issue 25)

    app.include_router(account.router)
    app.include_router(elements.router)

    # Vault: key cryptoperiod health.
    from strongbox.api.routers import keys_health

    app.include_router(keys_health.router)
    from strongbox.api.routers import webhook_endpoints, webhooks_inbound  # issue 7

    app.include_router(webhook_endpoints.router)
    app.include_router(webhooks_inbound.router)
    from strongbox.api.routers import connector_accounts, routing  # issue 6

    for extension in (connector_accounts, routing):
        app.include_router(extension.router)
    from strongbox.api.routers import exchange_rates, reconciliation  # issue 25

    app.include_router(reconciliation.router)
    app.include_router(exchange_rates.router)
    from strongbox.api.routers import payouts  # issue 19

    app.include_router(payouts.router)
    from strongbox.api.routers import bank_webhooks, financial_connections  # issue 20

    app.include_router(financial_connections.router)
    app.include_router(bank_webhooks.router)
    from strongbox.api.routers import oauth, oauth_clients  # issue 17, part B

    app.include_router(oauth.router)
    app.include_router(oauth_clients.router)
    from strongbox.api.routers import api_keys  # issue 17

    app.include_router(api_keys.router)
    from strongbox.api.routers import operator_access, operator_session  # issue 17

    app.include_router(operator_session.router)
    app.include_router(operator_access.router)
    from strongbox.api.routers import privacy  # issue 18: data subject requests

    app.include_router(privacy.router)

    from strongbox.api.routers import compliance  # issue 18: PCI DSS self-check reports

    app.include_router(compliance.router)

    if runtime.simulator is not None:
        from strongbox.connectors.simulator.http import create_3ds_router
        from strongbox.workers.recovery import complete_action

        def on_complete(reference: str, _succeeded: bool) -> None:
            complete_action(runtime, reference)

        app.include_router(
            create_3ds_router(runtime.simulator, on_complete),
            prefix="/simulator",
            tags=["simulator"],
        )

    # The edge: request ids, metrics, guards and security headers for every request, and the
    # payment routes served without FastAPI's per-request machinery (api/edge.py).
    app.add_middleware(
        Edge,
        max_body_bytes=runtime.settings.max_body_bytes,
        limiter=lambda: runtime.address_limiter,
        proxies=TrustedProxies(runtime.settings.trusted_proxies),
        concurrency=max(1, runtime.settings.pool_size // 2),
        path_limits={"/v1/ledger/transfers/batch": ledger_router.MAX_BATCH_BODY_BYTES},
    )
    install_openapi(app)

    @app.exception_handler(StrongboxError)
    async def strongbox_error(request: Request, exc: StrongboxError) -> Response:
        if exc.status >= 500:
            log.warning("request %s failed: %r", request_id(request), exc)
        return error_response(exc, {"Request-Id": request_id(request)})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        loc = [str(p) for p in errors[0]["loc"][1:]] if errors else []
        err = InvalidRequestError(
            "Invalid request: " + (errors[0].get("msg", "invalid value") if errors else ""),
            param=loc[0] if loc else None,
        )
        return error_response(err, {"Request-Id": request_id(request)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            err: StrongboxError = InvalidRequestError(
                f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
                "/docs for the API reference.",
                status=404,
            )
        elif exc.status_code == 405:
            err = InvalidRequestError(
                f"Unrecognized request URL ({request.method}: {request.url.path}): this "
                "method is not allowed here.",
                status=405,
            )
            allow = ", ".join(allowed_methods(app.routes, request.url.path))
            return error_response(err, {"Request-Id": request_id(request), "Allow": allow})
        else:
            err = InvalidRequestError(str(exc.detail), status=exc.status_code)
        return error_response(err, {"Request-Id": request_id(request)})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in request %s", request_id(request))
        err = unexpected_error()
        return error_response(err, {"Request-Id": request_id(request)})

    @app.get("/healthz", tags=["operations"], summary="Liveness and database readiness")
    @public_route
    def healthz() -> Response:
        db_ok = runtime.db.ping()
        body: dict[str, Any] = {
            "status": "ok" if db_ok else "degraded",
            "database": runtime.db.engine.dialect.name if db_ok else "unreachable",
            "version": __version__,
        }
        return json_response(200 if db_ok else 503, dumps(body))

    # Metrics have their own listener (api/metrics.py); here only behind a token, if set.
    install_token_route(app, runtime.settings.metrics_token)

    return app
