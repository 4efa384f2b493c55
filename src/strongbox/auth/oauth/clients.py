"""Registering OAuth2 clients (``strongbox oauth clients create``, ``/v1/oauth/clients``).

A client belongs to one merchant and may be granted at most the permissions of its ``scope``.

- ``confidential``: has a secret (shown once, stored as its SHA-256 digest), authenticates at
  the token endpoint with HTTP basic (``client_secret_basic``) or in the body
  (``client_secret_post``); may use ``client_credentials`` (services) and
  ``authorization_code`` with ``refresh_token``.
- ``public`` (mobile and single-page apps): no secret; ``authorization_code`` with PKCE
  (S256) only, and ``refresh_token``.

Redirect URIs are matched exactly: ``https://…``; ``http://`` only on loopback hosts (RFC 8252
§7.3); a private-use scheme in reverse-domain form (``com.example.app:/callback``, RFC 8252
§7.1). No fragments.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from strongbox.auth import permissions
from strongbox.auth.oauth import repository
from strongbox.auth.oauth.models import OAuthClient
from strongbox.core.clock import to_unix
from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.ids import new_id, random_token
from strongbox.core.secret import Secret
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

KINDS: Final = ("confidential", "public")
GRANT_TYPES: Final = ("authorization_code", "refresh_token", "client_credentials")
MAX_REDIRECT_URIS: Final = 10
MAX_URI_LENGTH: Final = 2000
SECRET_PREFIX: Final = "oacs_"  # noqa: S105 - a prefix, not a secret
_PRIVATE_SCHEME: Final = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+")


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def secret_matches(client: OAuthClient, raw: str) -> bool:
    if client.secret_hash is None:
        return False
    return hmac.compare_digest(client.secret_hash, digest(raw))


@dataclass(frozen=True, slots=True)
class NewClient:
    client: OAuthClient
    secret: Secret[str] | None


def _bad(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str) -> str:
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH:
        raise _bad(f"A redirect URI must be 1 to {MAX_URI_LENGTH} characters.", "redirect_uris")
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise _bad("A redirect URI is malformed.", "redirect_uris") from None
    if parts.fragment or "#" in uri:
        raise _bad("A redirect URI must not contain a fragment.", "redirect_uris")
    if any(c.isspace() for c in uri):
        raise _bad("A redirect URI must not contain white space.", "redirect_uris")
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return uri
    if scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return uri
    if _PRIVATE_SCHEME.fullmatch(scheme) and scheme not in ("http", "https"):
        return uri
    raise _bad(
        "A redirect URI must be https://…, http:// on a loopback host, or a private-use "
        "scheme in reverse-domain form (com.example.app:/callback).",
        "redirect_uris",
    )


def _check_scope(scope: str) -> str:
    try:
        granted = permissions.parse(scope.split())
    except permissions.UnknownPermissionError as exc:
        raise _bad(f"Invalid scope: {exc}.", "scope") from None
    if not granted:
        raise _bad("A client needs at least one permission in its scope.", "scope")
    return " ".join(sorted(granted))


def create_client(
    uow: UnitOfWork,
    ctx: RequestContext,
    *,
    name: str,
    kind: str,
    scope: str,
    redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
) -> NewClient:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise _bad("A client name must be 1 to 200 characters.", "name")
    if kind not in KINDS:
        raise _bad("client_type must be 'confidential' or 'public'.", "client_type")
    uris = [check_redirect_uri(u) for u in (redirect_uris or [])]
    if len(uris) > MAX_REDIRECT_URIS:
        raise _bad(f"At most {MAX_REDIRECT_URIS} redirect URIs.", "redirect_uris")
    if len(set(uris)) != len(uris):
        raise _bad("A redirect URI is listed twice.", "redirect_uris")
    if grant_types is None:
        grant_types = (
            ["client_credentials"]
            if kind == "confidential" and not uris
            else ["authorization_code", "refresh_token"]
        )
    grants = sorted(set(grant_types))
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise _bad(f"Unsupported grant type {grant!r}.", "grant_types")
    if kind == "public" and "client_credentials" in grants:
        raise _bad("A public client cannot use client_credentials.", "grant_types")
    if "authorization_code" in grants and not uris:
        raise _bad("authorization_code needs at least one redirect URI.", "redirect_uris")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise _bad("refresh_token is only issued with authorization_code.", "grant_types")
    secret = Secret(SECRET_PREFIX + random_token(40)) if kind == "confidential" else None
    row = OAuthClient(
        id=new_id("oauth_client"),
        merchant_id=ctx.merchant_id,
        name=name,
        kind=kind,
        secret_hash=digest(secret.reveal()) if secret is not None else None,
        redirect_uris=uris,
        grant_types=grants,
        scope=_check_scope(scope),
        created=uow.clock.now(),
        revoked_at=None,
    )
    uow.session.add(row)
    uow.flush()
    raise_event(uow, ctx, "strongbox.oauth_client.created", "oauth_client", row.id, render(row))
    return NewClient(client=row, secret=secret)


def get_client(uow: UnitOfWork, ctx: RequestContext, client_id: str) -> OAuthClient:
    row = repository.get_client(uow.session, ctx.merchant_id, client_id)
    if row is None:
        raise ResourceMissingError(f"No such OAuth client: '{client_id}'", param="id")
    return row


def list_clients(uow: UnitOfWork, ctx: RequestContext, page: PageRequest) -> Page[OAuthClient]:
    return repository.list_clients(uow.session, ctx.merchant_id, page)


def revoke_client(uow: UnitOfWork, ctx: RequestContext, row: OAuthClient) -> OAuthClient:
    """Revoke a client: its refresh tokens at once, its access tokens on their next use."""
    if row.revoked_at is not None:
        return row
    now = uow.clock.now()
    row.revoked_at = now
    repository.revoke_client_tokens(uow.session, ctx.merchant_id, row.id, now)
    uow.flush()
    raise_event(uow, ctx, "strongbox.oauth_client.revoked", "oauth_client", row.id, render(row))
    return row


def render(row: OAuthClient, livemode: bool = False) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "oauth_client",
        "name": row.name,
        "client_type": row.kind,
        "redirect_uris": list(row.redirect_uris),
        "grant_types": list(row.grant_types),
        "scope": row.scope,
        "created": to_unix(row.created),
        "revoked": row.revoked_at is not None,
        "livemode": livemode,
    }
