"""OAuth2 authorization server endpoints (issue 17, part B; docs/oauth.md).

``/oauth/*`` and ``/.well-known/oauth-authorization-server`` take no API key: clients
authenticate with their own credentials (HTTP basic or body; none for public clients, which
must use PKCE), as RFC 6749 prescribes, and errors are RFC 6749 §5.2 bodies
(``{"error": "invalid_grant", "error_description": …}``) that OAuth client libraries read,
not Stripe's envelope. OAuth refuses plain HTTP except on loopback hosts (Authlib's rule);
behind a TLS-terminating proxy, list it in ``STRONGBOX_TRUSTED_PROXIES``.

The authorization endpoint's resource owner is the merchant: ``GET /oauth/authorize`` shows
a consent page naming the client and the permissions it asks for; the merchant approves by
posting the form with its secret key (or ``Authorization: Bearer sk_…``). The key must be a
secret key of the merchant that registered the client.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from strongbox.api.context import get_runtime, request_id
from strongbox.api.forms import reject_nul
from strongbox.api.responses import dumps, json_response
from strongbox.api.security import TrustedProxies, public_route
from strongbox.auth import permissions
from strongbox.auth import service as auth
from strongbox.auth.oauth.server import HttpInput, OAuthResponse, Server
from strongbox.auth.oauth.tokens import Issuer
from strongbox.core.errors import AuthenticationError, InvalidRequestError, PermissionError_
from strongbox.runtime import Runtime

router = APIRouter(tags=["oauth"])

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
MAX_FIELD = 4096


def _issuer(rt: Runtime) -> Issuer:
    if rt.oauth is None:  # build_runtime always sets it; a hand-built runtime may not
        raise PermissionError_("OAuth2 is not configured on this instance.", status=404)
    return rt.oauth


async def oauth_input(request: Request) -> HttpInput:
    """The request as Authlib needs it: parameters as received (duplicates kept)."""
    form: list[tuple[str, str]] = []
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and ctype == "application/x-www-form-urlencoded":
        try:
            form = parse_qsl(
                (await request.body()).decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=100,
            )
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequestError("The form body is malformed.") from None
    query = request.query_params.multi_items()
    for key, value in [*query, *form]:  # duplicates kept: checked one pair at a time
        reject_nul({key: value})
    rt = get_runtime(request)
    tls = TrustedProxies(rt.settings.trusted_proxies).is_tls(request.scope)
    url = request.url.replace(scheme="https") if tls else request.url
    return HttpInput(
        method=request.method,
        uri=str(url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=[(k, v[:MAX_FIELD]) for k, v in query],
        form=[(k, v[:MAX_FIELD]) for k, v in form],
        request_id=request_id(request),
        source_ip=request.client.host if request.client else None,
    )


def _to_response(resp: OAuthResponse) -> Response:
    headers = dict(resp.headers)
    if resp.status in (301, 302, 303) and "Location" in headers:
        return RedirectResponse(headers["Location"], status_code=302)
    headers.pop("Content-Type", None)
    headers.setdefault("Cache-Control", "no-store")
    body = resp.body if isinstance(resp.body, dict) else {}
    return json_response(resp.status, dumps(body), headers)


def _run(
    request: Request, http: HttpInput, work: Callable[[Server], OAuthResponse | Response]
) -> Response:
    """``work`` on a server in one unit of work: committed on success, or when the server
    asks (a reuse it detected revoked a token family)."""
    rt = get_runtime(request)
    issuer = _issuer(rt)
    lifetime = timedelta(days=rt.settings.oauth_refresh_token_days)
    with rt.db.unit_of_work() as uow:
        server = Server(issuer, uow, http, lifetime)
        try:
            out = work(server)
        except OAuth2Error as error:
            out = server.handle_error_response(None, error)
        except ValueError:  # Authlib refuses to echo characters an error may not carry
            out = OAuthResponse(400, {"error": "invalid_request"}, [])
        status = out.status if isinstance(out, OAuthResponse) else out.status_code
        if status < 400 or server.commit_on_error:
            uow.commit()
    return _to_response(out) if isinstance(out, OAuthResponse) else out


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
)
@public_route
def oauth_metadata(request: Request) -> Response:
    iss = _issuer(get_runtime(request)).issuer
    body = {
        "issuer": iss,
        "authorization_endpoint": f"{iss}/oauth/authorize",
        "token_endpoint": f"{iss}/oauth/token",
        "jwks_uri": f"{iss}/oauth/jwks",
        "revocation_endpoint": f"{iss}/oauth/revoke",
        "introspection_endpoint": f"{iss}/oauth/introspect",
        "scopes_supported": sorted(permissions.ALL_PERMISSIONS),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:2],
        "code_challenge_methods_supported": ["S256"],
    }
    return json_response(200, dumps(body))


@router.get("/oauth/jwks", summary="The access tokens' public signing keys (RFC 7517)")
def oauth_jwks(request: Request) -> Response:
    rt = get_runtime(request)
    issuer = _issuer(rt)
    with rt.db.read() as session:
        body = issuer.keys.jwks(session)
    return json_response(200, dumps(body), {"Cache-Control": "max-age=60"})


@router.post("/oauth/token", summary="Token endpoint: code, refresh token, client credentials")
def oauth_token(request: Request, http: HttpInput = Depends(oauth_input)) -> Response:
    return _run(request, http, lambda server: server.create_token_response(http))


@router.post("/oauth/revoke", summary="Revoke an access or refresh token (RFC 7009)")
def oauth_revoke(request: Request, http: HttpInput = Depends(oauth_input)) -> Response:
    return _run(request, http, lambda server: server.create_endpoint_response("revocation", http))


@router.post("/oauth/introspect", summary="Introspect a token (RFC 7662)")
def oauth_introspect(request: Request, http: HttpInput = Depends(oauth_input)) -> Response:
    return _run(
        request, http, lambda server: server.create_endpoint_response("introspection", http)
    )


@router.get("/oauth/authorize", summary="Authorization endpoint: the merchant's consent page")
def oauth_authorize_page(request: Request, http: HttpInput = Depends(oauth_input)) -> Response:
    def work(server: Server) -> OAuthResponse | Response:
        grant = server.get_consent_grant(http)
        return _consent_page(grant, http)

    return _run(request, http, work)


@router.post("/oauth/authorize", summary="Authorization endpoint: the merchant's decision")
def oauth_authorize(request: Request, http: HttpInput = Depends(oauth_input)) -> Response:
    rt = get_runtime(request)
    fields = dict(reversed(http.form))
    header = request.headers.get("authorization", "")
    key = fields.get("secret_key") or header.removeprefix("Bearer ").strip()
    if not key:
        raise AuthenticationError("Approving an OAuth client needs the merchant's secret key.")
    owner = auth.authenticate(rt.db.read, key, rt.key_cache)
    if owner.kind != "secret":
        raise PermissionError_("Approving an OAuth client needs a secret key.")
    approve = fields.get("decision") == "approve"

    def work(server: Server) -> OAuthResponse | Response:
        grant = server.get_consent_grant(http)
        if grant.request.client.row.merchant_id != owner.merchant_id:
            raise PermissionError_("This client was registered by another merchant.", status=403)
        user = owner.merchant_id if approve else None
        result: OAuthResponse = server.create_authorization_response(
            http, grant_user=user, grant=grant
        )
        return result

    return _run(request, http, work)


def _consent_page(grant: Any, http: HttpInput) -> Response:
    client = grant.request.client.row
    scope = grant.request.scope or client.scope
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in http.query
        if k != "secret_key"
    )
    items = "".join(f"<li><code>{html.escape(p)}</code></li>" for p in scope.split())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {html.escape(client.name)}</title>
</head><body><main>
<h1>{html.escape(client.name)} asks for access to your Strongbox account</h1>
<p>It will be allowed to:</p><ul>{items}</ul>
<form method="post" action="/oauth/authorize">{hidden}
<label>Your secret key <input type="password" name="secret_key" autocomplete="off" required>
</label>
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form></main></body></html>"""
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
