"""Per-request dependencies: the runtime, the authenticated merchant, parameters."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from strongbox.api.forms import read_params
from strongbox.api.route_permissions import enforce
from strongbox.auth import repository as auth_repository
from strongbox.auth import service as auth
from strongbox.auth.oauth.tokens import TokenRejected, authenticate_bearer, looks_like_jwt
from strongbox.core.errors import AuthenticationError, PermissionError_
from strongbox.core.ids import new_id
from strongbox.events.types import RequestContext
from strongbox.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = new_id("request")
        request.state.request_id = rid
    return str(rid)


def _raw_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            code=None,
        )
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationError("Invalid HTTP basic authorization header.") from None
        return decoded.split(":", 1)[0]
    raise AuthenticationError(
        "Invalid Authorization header: use 'Bearer sk_…' or HTTP basic with the key as user."
    )


@dataclass(frozen=True, slots=True)
class Caller:
    runtime: Runtime
    ctx: RequestContext
    auth: auth.AuthContext


def authenticate(request: Request, *, allow_publishable: bool = False) -> Caller:
    rt = get_runtime(request)
    raw = _raw_key(request)
    if looks_like_jwt(raw):  # an OAuth2 access token (auth/oauth/tokens.py); keys never are
        auth_ctx = _oauth_context(rt, raw)
    else:
        auth_ctx = auth.authenticate(rt.db.read, raw, rt.key_cache, rt.db.clock.now)
    rt.rate_limiter.check(auth_ctx.key_id)
    if auth_ctx.kind == "publishable" and not allow_publishable:
        raise PermissionError_(
            "This API call cannot be made with a publishable API key. Please use a secret "
            "API key. You can find a list of your API keys at /v1/… (strongbox merchants)."
        )
    if auth_ctx.permissions is not None:  # restricted keys and tokens; never a plain sk_
        check_restrictions(request, auth_ctx)
    ctx = RequestContext(
        merchant_id=auth_ctx.merchant_id,
        actor=f"oauth_client:{auth_ctx.key_id}"
        if auth_ctx.kind == "oauth"
        else f"api_key:{auth_ctx.key_id}",
        request_id=request_id(request),
        idempotency_key=request.headers.get("idempotency-key"),
        source_ip=request.client.host if request.client else None,
        livemode=auth_ctx.livemode,
        settlement_currency=auth_ctx.settlement_currency,
    )
    return Caller(runtime=rt, ctx=ctx, auth=auth_ctx)


def _oauth_context(rt: Runtime, token: str) -> auth.AuthContext:
    """A bearer JWT as an ``AuthContext``: the token's merchant, its client as the key (rate
    limits are per client), and exactly the permissions of its ``scope``."""
    if rt.oauth is None:
        raise TokenRejected("not_configured")
    claims = authenticate_bearer(rt.oauth, rt.db.read, token)
    with rt.db.read() as session:  # payments record the merchant's settlement currency
        merchant = auth_repository.get_merchant(session, claims.merchant_id)
    return auth.AuthContext(
        merchant_id=claims.merchant_id,
        key_id=claims.client_id,
        kind="oauth",
        livemode=False,
        permissions=claims.scope,
        settlement_currency=merchant.settlement_currency if merchant is not None else None,
    )


def client_address(request: Request) -> str:
    """The client's address as the edge resolved it (trusted proxies considered)."""
    address = getattr(request.state, "client_address", None)
    if isinstance(address, str):
        return address
    return request.client.host if request.client else "unknown"


def check_restrictions(request: Request, auth_ctx: auth.AuthContext) -> None:
    """A restricted caller's address allowlist, then the route's permission (one check)."""
    if auth_ctx.allowed_ips is not None:
        from strongbox.auth.restricted_keys import address_allowed

        if not address_allowed(auth_ctx.allowed_ips, client_address(request)):
            raise PermissionError_(
                "This API key cannot be used from this IP address.", code="ip_not_allowed"
            )
    enforce(auth_ctx.permissions, request.method, request.scope.get("path", ""))


async def params_of(request: Request) -> dict[str, Any]:
    cached = getattr(request.state, "params", None)
    if cached is None:
        cached = await read_params(request)
        request.state.params = cached
    return dict(cached)
