"""The HTTP edge: one pure-ASGI layer in front of the FastAPI routes, doing per request what
three middlewares did (request id and Stripe's headers, metrics, the body limit, the
per-address rate limit, the security headers), and answering the payment routes itself.

Why: a payment's own work is now a few hundred microseconds of Python; FastAPI's routing,
dependency injection and response classes, and three middlewares each wrapping ``send``,
cost more than that per request. So:

* routes whose endpoint is marked ``@edge_route`` (creating, confirming, capturing,
  canceling and retrieving PaymentIntents, creating refunds) are matched here and their
  endpoint is called directly, with the parameters read here (the same ``read_params``), on
  the event loop itself (``core/bridge.py``): no thread hand-off; SQLite's statements are
  in-process calls, PostgreSQL's waits go back to the loop (``db/green.py``), and calls that
  may block (a gateway over the network) go to worker threads. At most ``concurrency`` such
  requests are in the database at once (each holds one pooled connection while it waits).
  The endpoint and everything under it is the same code FastAPI would call, and FastAPI
  still describes these routes in the OpenAPI document;
* a ``/v1/`` path that no route serves is answered 404 here;
* everything else goes on to FastAPI, and its responses get the same headers.

Headers: ``Request-Id``, ``Stripe-Version``; ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer``, a ``Content-Security-Policy`` (with ``X-Frame-Options:
DENY``) unless the route set its own, ``Cache-Control: no-store`` under ``/v1/``, and HSTS on
requests that came over TLS (``api/security.py`` documents each).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongbox.api.forms import read_params
from strongbox.api.responses import error_response
from strongbox.api.security import (
    API_CSP,
    DOCS_CSP,
    HSTS_MAX_AGE,
    HTML_CSP,
    RATE_LIMIT_EXEMPT,
    BodyTooLargeError,
    TrustedProxies,
    iter_routes,
)
from strongbox.auth.ratelimit import RateLimiter
from strongbox.core import bridge, metrics
from strongbox.core.errors import (
    InvalidRequestError,
    RateLimitError,
    StrongboxError,
    unexpected_error,
)
from strongbox.core.ids import new_id
from strongbox.core.logging import request_id_var
from strongbox.events.types import API_VERSION

log = logging.getLogger("strongbox.api.app")

F = TypeVar("F", bound=Callable[..., Any])


def edge_route(endpoint: F) -> F:
    """Serve this route from the edge: the endpoint takes its path parameters, then
    ``request`` and ``params`` (``Depends(params_of)``), and returns a ``Response``."""
    endpoint.__strongbox_edge__ = True  # type: ignore[attr-defined]
    return endpoint


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_HSTS = (b"strict-transport-security", f"max-age={HSTS_MAX_AGE}; includeSubDomains".encode())
_VERSION = (b"stripe-version", API_VERSION.encode())


class _Route:
    __slots__ = ("endpoint", "hot", "methods", "names", "regex", "template")

    def __init__(self, methods: frozenset[str], template: str, endpoint: Any) -> None:
        self.methods = methods
        self.template = template
        self.endpoint = endpoint
        self.hot = bool(getattr(endpoint, "__strongbox_edge__", False))
        pattern = re.sub(r"\{(\w+)(?::\w+)?\}", r"(?P<\1>[^/]+)", template)
        self.regex = re.compile(f"^{pattern}$")
        self.names = tuple(re.findall(r"\{(\w+)", template))


class Edge:
    """The ASGI middleware described in the module docstring (outermost of the app's)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        limiter: Callable[[], RateLimiter],
        proxies: TrustedProxies,
        concurrency: int,
        path_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        self.proxies = proxies
        self.concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self.path_limits = dict(path_limits or {})
        self._table: list[_Route] | None = None
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _routes(self, scope: Scope) -> list[_Route]:
        """Every route of the application, in the order its router tries them."""
        if self._table is None:
            app = scope.get("app")  # the application Starlette set for its middleware
            self._table = [
                _Route(methods, path, endpoint)
                for path, methods, endpoint in iter_routes(getattr(app, "routes", ()))
            ]
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = new_id("request")
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        token = request_id_var.set(rid)
        tls = self.proxies.is_tls(scope)
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        extra = [(b"request-id", rid.encode()), _VERSION]
        template = "unmatched"
        status = 500

        async def send_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _with_security(
                    list(message.get("headers", [])), path, tls, extra
                )
            await send(message)

        try:
            if "\x00" in path:
                # No id contains NUL (and PostgreSQL cannot even compare with one).
                missing = InvalidRequestError(
                    "No such object: the URL contains a NUL character.", status=404
                )
                await error_response(missing)(scope, receive, send_headers)
                return
            refused = await self._guard(scope, state)
            if refused is not None:
                await refused(scope, receive, send_headers)
                return
            limit = self.path_limits.get(path, self.max_body_bytes)
            served = False  # by some route, for some method
            for route in self._routes(scope):
                m = route.regex.match(path)
                if m is None:
                    continue
                served = True
                if method not in route.methods:
                    continue
                if route.hot and method != "HEAD":  # the router's own first match
                    template = route.template
                    response = await self._serve(route, m, scope, receive, limit)
                    await response(scope, receive, send_headers)
                    return
                break
            if path.startswith("/v1/") and not served:
                await error_response(
                    InvalidRequestError(
                        f"Unrecognized request URL ({method}: {path}). Please see /docs for "
                        "the API reference.",
                        status=404,
                    )
                )(scope, receive, send_headers)
                return
            await self._forward(scope, receive, send_headers, limit)
            route_obj = scope.get("route")
            template = getattr(route_obj, "path", "unmatched")
        finally:
            self._observe(method, template, status, time.perf_counter() - start)
            request_id_var.reset(token)

    # ---- the guards (body size, per-address rate limit)

    async def _guard(self, scope: Scope, state: dict[str, Any]) -> Response | None:
        address = self.proxies.client_address(scope)
        state["client_address"] = address
        path = scope.get("path", "")
        if path not in RATE_LIMIT_EXEMPT:
            limiter = self.limiter()
            try:
                if limiter.shared:  # a Redis round trip: keep it off the event loop
                    await anyio.to_thread.run_sync(limiter.check, address)
                else:
                    limiter.check(address)
            except RateLimitError as exc:
                return error_response(exc)
        limit = self.path_limits.get(path, self.max_body_bytes)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value.strip()
                if declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
                    return error_response(BodyTooLargeError(limit))
                break
        return None

    async def _forward(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError as exc:
            if started:
                raise
            await error_response(exc)(scope, receive, send)

    # ---- the edge's own routes

    async def _serve(
        self, route: _Route, match: re.Match[str], scope: Scope, receive: Receive, limit: int
    ) -> Response:
        request = Request(scope, _limited(receive, limit))
        try:
            params = await read_params(request)
            args = [match.group(n) for n in route.names]
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.concurrency)
            async with self._slots:
                response: Response = await bridge.run(
                    lambda: route.endpoint(*args, request, params)
                )
        except StrongboxError as exc:
            if exc.status >= 500:
                log.warning("request %s failed: %r", scope["state"]["request_id"], exc)
            return error_response(exc)
        except Exception:
            log.exception("unhandled error in request %s", scope["state"]["request_id"])
            return error_response(unexpected_error())
        return response

    def _observe(self, method: str, template: str, status: int, seconds: float) -> None:
        key = (method, template, status)
        found = self._metrics.get(key)
        if found is None:
            found = (
                metrics.HTTP_REQUESTS.labels(method, template, str(status)),
                metrics.HTTP_LATENCY.labels(method, template),
            )
            self._metrics[key] = found
        found[0].inc()
        found[1].observe(seconds)


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLargeError(limit)
        return message

    return limited_receive


def _with_security(
    headers: list[tuple[bytes, bytes]], path: str, tls: bool, extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The response's headers with the edge's: the security headers it did not set itself,
    the request id and the API version (see the module docstring)."""
    have = {name.lower() for name, _ in headers}
    out = headers
    if b"request-id" not in have:
        out.append(extra[0])
    out.append(extra[1])
    if b"x-content-type-options" not in have:
        out.append(_NOSNIFF)
    if b"referrer-policy" not in have:
        out.append((b"referrer-policy", b"no-referrer"))
    if b"content-security-policy" not in have:
        media = b""
        for name, value in headers:
            if name.lower() == b"content-type":
                media = value.split(b";")[0].strip().lower()
                break
        if path == "/docs":
            policy = DOCS_CSP
        elif media == b"text/html":
            policy = HTML_CSP
        else:
            policy = API_CSP
        out.append((b"content-security-policy", policy.encode()))
        out.append((b"x-frame-options", b"DENY"))
    if path.startswith("/v1/") and b"cache-control" not in have:
        out.append(_NO_STORE)
    if tls and b"strict-transport-security" not in have:
        out.append(_HSTS)
    return out
