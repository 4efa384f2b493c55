"""HTTP-level security controls: security headers, the body-size limit, per-address rate
limits, client addresses behind trusted proxies, and which routes take no API key.

The edge (``api/edge.py``, the application's outermost middleware) applies them to every
request: the request id and metrics, then the per-address rate limit and the body limit, then
the routes; every response, the guards' 413 and 429 included, carries the security headers
and a ``Request-Id``.

Routes
------
Every route authenticates with an API key (``api.context.authenticate``) unless its endpoint is
marked ``@operator_route`` (the operator surface under ``/operator/``: session cookie and CSRF
token, docs/access.md) or ``@public_route`` (the health and metrics probes) or its path is in
``PUBLIC_PATHS`` / ``PUBLIC_PREFIXES`` (routes FastAPI adds, and whole public trees);
``is_public_route`` and ``public_paths`` answer for a route table.
``tests/security/test_auth_matrix.py`` walks ``app.routes`` and fails for any other route
that answers without a valid secret key. A route that also accepts publishable keys marks its
endpoint with ``@accepts_publishable_key`` and calls
``authenticate(request, allow_publishable=True)``; the same test checks both agree.

Headers
-------
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` on every response.
A ``Content-Security-Policy`` unless the route set its own: ``HTML_CSP`` for HTML,
``API_CSP`` for everything else, both with ``frame-ancestors 'none'`` (plus
``X-Frame-Options: DENY``). A route that must be framed (hosted card fields) sets its own
``Content-Security-Policy`` with the ``frame-ancestors`` it needs; the middleware then leaves
CSP and ``X-Frame-Options`` alone. ``Strict-Transport-Security`` only on requests that came
over TLS: the ASGI scheme is ``https``, or the peer is a trusted proxy that says
``X-Forwarded-Proto: https``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import Scope

from strongbox.core.errors import InvalidRequestError

__all__ = [
    "API_CSP",
    "DOCS_CSP",
    "HTML_CSP",
    "PUBLIC_PATHS",
    "PUBLIC_PREFIXES",
    "BodyTooLargeError",
    "TrustedProxies",
    "accepts_publishable_key",
    "allowed_methods",
    "is_operator_route",
    "is_public_path",
    "is_public_route",
    "iter_routes",
    "operator_route",
    "public_paths",
    "public_route",
]

PUBLIC_PATHS: frozenset[str] = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect"})
"""Paths that take no API key and whose endpoints FastAPI makes: the API description and its
viewer. Our own public endpoints say so themselves with ``@public_route``."""
PUBLIC_PREFIXES: tuple[str, ...] = (
    "/simulator/",
    "/elements/",
    "/v1/webhooks/inbound/",
    # bank-data providers post here, authenticated by their own signatures (issue 20)
    "/v1/financial_connections/webhooks/",
    # the OAuth2 authorization server: clients authenticate with their own credentials
    # (RFC 6749 §2.3), the consent form with the merchant's secret key (issue 17)
    "/oauth/",
)
"""Path prefixes that take no API key: the simulator's 3DS challenge pages (a test gateway's
pages, opened by the customer's browser), the hosted card page and its script (they check the
publishable key in the query themselves), and inbound gateway webhooks (authenticated by the
gateway's signature over the raw body), and the OAuth2 endpoints (client credentials, PKCE,
or the merchant's secret key on the consent form)."""
# Not /metrics: on this port it exists only behind a token, which must not be guessable
# at an unlimited rate (the metrics listener itself has no limits and no tenant traffic).
RATE_LIMIT_EXEMPT: frozenset[str] = frozenset({"/healthz", "/healthz/keys"})
"""Monitoring probes are not counted against the per-address limit."""

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_CSP = (
    # Swagger UI: FastAPI's page loads its bundle from jsDelivr and starts it inline.
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HSTS_MAX_AGE = 63_072_000  # two years, as recommended for preload lists

F = TypeVar("F", bound=Callable[..., Any])


def accepts_publishable_key(endpoint: F) -> F:
    """Declare that a route accepts publishable keys (``pk_…``) as well as secret keys.

    The route must also call ``authenticate(request, allow_publishable=True)``;
    ``tests/security/test_auth_matrix.py`` checks that the two agree.
    """
    endpoint.__strongbox_publishable__ = True  # type: ignore[attr-defined]
    return endpoint


def public_route(endpoint: F) -> F:
    """Declare that a route takes no API key (health and metrics probes: no merchant data).

    ``tests/security/test_auth_matrix.py`` keeps the number of such routes small.
    """
    endpoint.__strongbox_public__ = True  # type: ignore[attr-defined]
    return endpoint


def operator_route(endpoint: F) -> F:
    """Declare a route of the operator surface (``/operator/…``, issue 17): authenticated by
    an operator session cookie and CSRF token (``api/operator_context.py``), not an API key;
    its login steps take credentials themselves. ``tests/security/test_auth_matrix.py``
    leaves these to ``tests/security/test_operator_matrix.py``."""
    endpoint.__strongbox_operator__ = True  # type: ignore[attr-defined]
    return endpoint


def is_operator_route(endpoint: Any) -> bool:
    return getattr(endpoint, "__strongbox_operator__", False) is True


def is_public_path(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_public_route(path: str, endpoint: Any) -> bool:
    """True for a route that takes no API key: marked ``@public_route``, or a public path."""
    return getattr(endpoint, "__strongbox_public__", False) is True or is_public_path(path)


def public_paths(routes: Iterable[Any]) -> frozenset[str]:
    """The paths of the public routes in a route table (through included routers)."""
    return frozenset(
        path for path, _, endpoint in iter_routes(routes) if is_public_route(path, endpoint)
    )


def iter_routes(routes: Iterable[Any]) -> Iterator[tuple[str, frozenset[str], Any]]:
    """``(full path, methods, endpoint)`` of every HTTP route, through included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included-router contexts: routes are flat
        contexts: Iterable[Any] = routes
    else:
        contexts = iter_route_contexts(list(routes))
    for ctx in contexts:
        path = getattr(ctx, "path", None)
        original = getattr(ctx, "original_route", ctx)
        methods = getattr(original, "methods", None)
        if isinstance(path, str) and methods:
            yield path, frozenset(methods), getattr(original, "endpoint", None)


def allowed_methods(routes: Iterable[Any], path: str) -> list[str]:
    """The methods that some route serves at ``path`` (for a 405's ``Allow`` header).

    Where a route is written for exactly this path (``/v1/ledger/transfers/batch``), only such
    routes count: the path names that resource, not an id of ``/v1/ledger/transfers/{id}``.
    """
    exact: set[str] = set()
    methods: set[str] = set()
    for route_path, route_methods, _ in iter_routes(routes):
        regex, _, _ = compile_path(route_path)
        if route_path == path:
            exact.update(route_methods)
        if regex.match(path):
            methods.update(route_methods)
    if exact:
        methods = exact
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


# ---------------------------------------------------------------------- client addresses


class TrustedProxies:
    """Which peers may tell us the client's address and scheme (``X-Forwarded-For/-Proto``).

    ``spec`` is a comma-separated list of IP addresses or networks; empty trusts nobody, so the
    address is the TCP peer's and headers are ignored (nobody can spoof their way around the
    per-address limit). Behind a proxy, the client is the right-most ``X-Forwarded-For``
    entry that is not itself a trusted proxy.
    """

    def __init__(self, spec: str = "") -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            try:
                self.networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"STRONGBOX_TRUSTED_PROXIES: {part!r} is not an IP address or network"
                ) from None

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client_address(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        if not self.trusts(peer):
            return peer
        forwarded = Headers(scope=scope).get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop[:64]
        return peer

    def is_tls(self, scope: Scope) -> bool:
        if scope.get("scheme") in ("https", "wss"):
            return True
        client = scope.get("client")
        if client and self.trusts(str(client[0])):
            proto = Headers(scope=scope).get("x-forwarded-proto", "")
            return proto.split(",")[-1].strip().lower() == "https"
        return False


# ---------------------------------------------------------------------- middleware


class BodyTooLargeError(InvalidRequestError):
    status = 413
    default_code = "request_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body too large: at most {limit} bytes are accepted.")
