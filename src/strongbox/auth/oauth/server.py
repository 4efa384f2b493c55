"""Authlib's ``AuthorizationServer`` on one request and one unit of work.

Framework-free: the API edge (``api/routers/oauth.py``) turns a Starlette request into an
``HttpInput``, builds a ``Server`` around the request's unit of work, asks it for a response
(``OAuthResponse``), and commits when the response is a success, or when the server asks for
it on an error (``commit_on_error``: a reused refresh token or code revoked its family, and
that revocation must stay).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidScopeError,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
)
from sqlalchemy.orm import Session

from strongbox.auth import permissions
from strongbox.auth.oauth import clients, repository
from strongbox.auth.oauth.grants import (
    PKCE,
    AccessToken,
    AuthorizationCodeGrant,
    Client,
    ClientCredentialsGrant,
    Introspection,
    RefreshToken,
    RefreshTokenGrant,
    Revocation,
    revoked_access_token,
)
from strongbox.auth.oauth.models import OAuthAuthorizationCode, OAuthClient, OAuthRefreshToken
from strongbox.auth.oauth.tokens import Issuer, TokenRejected, looks_like_jwt
from strongbox.core.ids import new_id, random_token
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

log = logging.getLogger(__name__)
# Authlib logs issued tokens at DEBUG ("Issue token {...}"): never let them reach a handler.
logging.getLogger("authlib").setLevel(logging.INFO)

REFRESH_PREFIX = "oart_"
MAX_PARAM_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class HttpInput:
    """What the server needs of an HTTP request (parameters as received, duplicates kept)."""

    method: str
    uri: str
    headers: dict[str, str]
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    request_id: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True, slots=True)
class OAuthResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)


class Headers(dict[str, str]):
    """Header names compared case-insensitively (Authlib asks for ``Authorization``)."""

    def __init__(self, items: dict[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in items.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._data.setdefault(key, value)
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, http: HttpInput) -> None:
        super().__init__(method=http.method, uri=http.uri, headers=Headers(http.headers))
        self._args = dict(reversed(http.query))  # the first of duplicates, as the payload
        self._form = dict(reversed(http.form))
        self.payload = _Payload(http.query + http.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self, issuer: Issuer, uow: UnitOfWork, http: HttpInput, refresh_lifetime: timedelta
    ) -> None:
        super().__init__(scopes_supported=sorted(permissions.ALL_PERMISSIONS))
        self.issuer = issuer
        self.uow = uow
        self.http = http
        self.clock = issuer.clock
        self.refresh_lifetime = refresh_lifetime
        self.commit_on_error = False
        self.register_grant(AuthorizationCodeGrant, [PKCE(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_token_generator("default", self._generate_token)

    # ---- Authlib's framework hooks

    def query_client(self, client_id: Any) -> Client | None:
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 64 or "\x00" in client_id:
            return None  # (a NUL can arrive through HTTP basic auth's base64)
        row = repository.find_client(self.uow.session, client_id)
        if row is None or row.revoked_at is not None:
            return None
        return Client(row)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return _Request(request if isinstance(request, HttpInput) else self.http)

    def create_json_request(self, request: Any) -> JsonRequest:
        json_request = JsonRequest(self.http.method, self.http.uri, Headers(self.http.headers))
        json_request.payload = _Payload(self.http.form)
        return json_request

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status, body, [(str(k), str(v)) for k, v in headers or []])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        log.debug("oauth: %s", name)

    def validate_requested_scope(self, scope: str | None) -> None:
        if not scope:
            return
        try:
            permissions.parse(scope.split(" "))
        except permissions.UnknownPermissionError:
            raise InvalidScopeError(description="The scope names an unknown permission.") from None

    # ---- tokens

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        granted = client.get_allowed_scope(scope)
        token, claims = self.issuer.mint(
            self.uow,
            self.context(client.row),
            merchant_id=client.row.merchant_id,
            client_id=client.row.id,
            scope=permissions.parse(granted.split(" ")),
            expires_in=expires_in,
        )
        out: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": int((claims.expires_at - claims.issued_at).total_seconds()),
            "scope": granted,
            "_jti": claims.jti,
        }
        if include_refresh_token:
            out["refresh_token"] = REFRESH_PREFIX + random_token(43)
        return out

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        client: Client = request.client
        jti = token.pop("_jti")
        refresh_id = None
        if "refresh_token" in token:
            if isinstance(request.refresh_token, RefreshToken):
                family = request.refresh_token.row.family_id
            elif request.authorization_code is not None:
                family = request.authorization_code.row.family_id
            else:
                family = new_id("oauth_token_family")
            now = self.clock.now()
            row = OAuthRefreshToken(
                id=new_id("oauth_refresh_token"),
                token_hash=clients.digest(token["refresh_token"]),
                family_id=family,
                merchant_id=client.row.merchant_id,
                client_id=client.row.id,
                scope=token["scope"],
                created=now,
                expires_at=now + self.refresh_lifetime,
                rotated_at=None,
                revoked_at=None,
            )
            self.uow.session.add(row)
            self.uow.flush()
            refresh_id = row.id
        self.event(
            client.row,
            "strongbox.oauth_token.issued",
            {
                "access_token_jti": jti,
                "grant_type": request.payload.grant_type,
                "scope": token["scope"],
                "expires_in": token["expires_in"],
                "refresh_token": refresh_id,
            },
        )

    # ---- storage helpers used by the grants and endpoints

    def context(self, client: OAuthClient) -> RequestContext:
        return RequestContext(
            merchant_id=client.merchant_id,
            actor=f"oauth_client:{client.id}",
            request_id=self.http.request_id,
            source_ip=self.http.source_ip,
        )

    def event(self, client: OAuthClient, type_: str, obj: dict[str, Any]) -> None:
        raise_event(
            self.uow,
            self.context(client),
            type_,
            "oauth_client",
            client.id,
            {"id": client.id, **obj},
        )

    def revoke_family(self, client: OAuthClient, family_id: str, reason: str) -> None:
        count = repository.revoke_family(
            self.uow.session, client.merchant_id, family_id, self.clock.now()
        )
        self.commit_on_error = True
        self.event(
            client,
            "strongbox.oauth_token_family.revoked",
            {"family": family_id, "reason": reason, "refresh_tokens_revoked": count},
        )

    def mark_used(self, code: OAuthAuthorizationCode) -> None:
        code.used_at = self.clock.now()
        self.uow.flush()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        yield self.uow.session

    def find_token(self, value: Any) -> AccessToken | RefreshToken | None:
        if not isinstance(value, str) or not value or len(value) > MAX_PARAM_LENGTH:
            return None
        if looks_like_jwt(value):
            try:
                return AccessToken(self.issuer.validate(value, self._session), self)
            except TokenRejected:
                return None
        row = repository.find_refresh_token(self.uow.session, clients.digest(value))
        return RefreshToken(row, self) if row is not None else None

    def revoke(self, token: AccessToken | RefreshToken) -> None:
        owner = token.claims.client_id if isinstance(token, AccessToken) else token.row.client_id
        client = repository.find_client(self.uow.session, owner)
        if client is None:
            return
        if isinstance(token, AccessToken):
            if not repository.is_access_token_revoked(self.uow.session, token.claims.jti):
                self.uow.session.add(revoked_access_token(token.claims, self.clock.now()))
                self.uow.flush()
                self.event(
                    client, "strongbox.oauth_token.revoked", {"access_token_jti": token.claims.jti}
                )
            return
        self.revoke_family(client, token.row.family_id, "revoked_by_client")
