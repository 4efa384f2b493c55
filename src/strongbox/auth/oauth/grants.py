"""Authlib's grants and endpoints on our tables: what each needs to store and look up.

Authlib (``authlib.oauth2``) implements the protocol rules: parameters, client
authentication, redirect URI checks, PKCE verification, error responses. These subclasses
supply the storage, and tighten three rules:

- PKCE is required for every authorization code, and only ``S256`` (``plain`` refused).
- A refresh token rotates on every use; presenting a rotated one again revokes its family
  (every token issued from the same authorization), as does reusing an authorization code.
- Revoking a refresh token revokes its family; revoking an access token records its ``jti``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import ClientMixin, InvalidGrantError, InvalidScopeError, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError as OAuthInvalidRequest
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy import update

from strongbox.auth.oauth import clients, repository
from strongbox.auth.oauth.models import (
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthRefreshToken,
    OAuthRevokedAccessToken,
)
from strongbox.auth.oauth.tokens import AccessClaims, TokenRejected, looks_like_jwt
from strongbox.core.clock import to_unix
from strongbox.core.ids import new_id

if TYPE_CHECKING:
    from strongbox.auth.oauth.server import Server

CODE_LIFETIME = timedelta(minutes=5)
SECRET_AUTH = ["client_secret_basic", "client_secret_post"]
ANY_AUTH = [*SECRET_AUTH, "none"]


class Client(ClientMixin):  # type: ignore[misc]
    """An ``OAuthClient`` row as Authlib sees a client."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scope.split())
        if not scope:
            return self.row.scope
        asked = set(scope.split())
        if not asked <= allowed:
            raise InvalidScopeError(description="The client may not be granted this scope.")
        return " ".join(sorted(asked))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return clients.secret_matches(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.kind == "public":
            return method == "none"
        return method in SECRET_AUTH

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


class AccessToken:
    """A validated access token, for revocation and introspection."""

    kind = "access_token"

    def __init__(self, claims: AccessClaims, server: Server) -> None:
        self.claims = claims
        self.server = server

    def check_client(self, client: Client) -> bool:
        return self.claims.client_id == client.row.id

    def is_expired(self) -> bool:
        return False  # validation already refused expired tokens

    def is_revoked(self) -> bool:
        return repository.is_access_token_revoked(self.server.uow.session, self.claims.jti)

    def get_scope(self) -> str:
        return " ".join(sorted(self.claims.scope))


class RefreshToken:
    """An ``OAuthRefreshToken`` row as Authlib sees a token."""

    kind = "refresh_token"

    def __init__(self, row: OAuthRefreshToken, server: Server) -> None:
        self.row = row
        self.server = server

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.row.id

    def is_expired(self) -> bool:
        return self.row.expires_at <= self.server.clock.now()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.rotated_at is not None

    def get_scope(self) -> str:
        return self.row.scope


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE on every authorization request, ``S256`` only (``plain`` and absence refused)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise OAuthInvalidRequest("PKCE is required: send 'code_challenge' (S256).")
        if data.get("code_challenge_method") != "S256":
            raise OAuthInvalidRequest("'code_challenge_method' must be S256 (plain is refused).")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.row.code_challenge_method


class AuthorizationCode:
    """An ``OAuthAuthorizationCode`` row as Authlib sees a code."""

    def __init__(self, row: OAuthAuthorizationCode) -> None:
        self.row = row

    def get_redirect_uri(self) -> str | None:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


PKCE = S256Only


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_AUTH
    server: Server

    def save_authorization_code(self, code: str, request: Any) -> None:
        client: Client = request.client
        data = request.payload.data
        row = OAuthAuthorizationCode(
            id=new_id("oauth_code"),
            code_hash=clients.digest(code),
            merchant_id=client.row.merchant_id,
            client_id=client.row.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or client.row.scope,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            family_id=new_id("oauth_token_family"),
            created=self.server.clock.now(),
            expires_at=self.server.clock.now() + CODE_LIFETIME,
            used_at=None,
        )
        self.server.uow.session.add(row)
        self.server.uow.flush()
        self.server.event(
            client.row,
            "strongbox.oauth_authorization.granted",
            {"code": row.id, "scope": row.scope},
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        row = repository.find_code(self.server.uow.session, clients.digest(code))
        if row is None or row.client_id != client.row.id:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for.
            self.server.revoke_family(client.row, row.family_id, "code_reused")
            return None
        if row.expires_at <= self.server.clock.now():
            return None
        return AuthorizationCode(row)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept, marked used, so that a second use is recognised (and revokes the family).
        self.server.mark_used(authorization_code.row)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.row.merchant_id


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: Server

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        row = repository.find_refresh_token(self.server.uow.session, clients.digest(refresh_token))
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            # Reuse of a rotated token: someone else holds the family. Revoke all of it.
            client = repository.find_client(self.server.uow.session, row.client_id)
            if client is not None:
                self.server.revoke_family(client, row.family_id, "refresh_token_reused")
            return None
        if row.expires_at <= self.server.clock.now():
            return None
        return RefreshToken(row, self.server)

    def authenticate_user(self, refresh_token: RefreshToken) -> str:
        return refresh_token.row.merchant_id

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        row = refresh_token.row
        done = self.server.uow.session.execute(
            update(OAuthRefreshToken)
            .where(OAuthRefreshToken.id == row.id, OAuthRefreshToken.rotated_at.is_(None))
            .values(rotated_at=self.server.clock.now())
            .execution_options(synchronize_session="fetch")
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidGrantError("The refresh token was used concurrently.")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_AUTH


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ANY_AUTH
    server: Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.find_token(token_string)

    def revoke_token(self, token: Any, request: Any) -> None:
        self.server.revoke(token)


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = SECRET_AUTH
    server: Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.find_token(token_string)

    def check_permission(self, token: Any, client: Client, request: Any) -> bool:
        return bool(token.check_client(client))

    def introspect_token(self, token: Any) -> dict[str, Any]:
        if isinstance(token, AccessToken):
            c = token.claims
            return {
                "active": True,
                "token_type": "Bearer",
                "scope": token.get_scope(),
                "client_id": c.client_id,
                "sub": c.merchant_id,
                "jti": c.jti,
                "iat": to_unix(c.issued_at),
                "nbf": to_unix(c.issued_at),
                "exp": to_unix(c.expires_at),
                "iss": self.server.issuer.issuer,
                "aud": self.server.issuer.audience,
            }
        row = token.row
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": row.scope,
            "client_id": row.client_id,
            "sub": row.merchant_id,
            "iat": to_unix(row.created),
            "exp": to_unix(row.expires_at),
            "iss": self.server.issuer.issuer,
        }


def revoked_access_token(claims: AccessClaims, now: Any) -> OAuthRevokedAccessToken:
    return OAuthRevokedAccessToken(
        jti=claims.jti,
        merchant_id=claims.merchant_id,
        client_id=claims.client_id,
        expires_at=claims.expires_at,
        created=now,
    )


__all__ = [
    "PKCE",
    "AccessToken",
    "AuthorizationCodeGrant",
    "Client",
    "ClientCredentialsGrant",
    "Introspection",
    "RefreshToken",
    "RefreshTokenGrant",
    "Revocation",
    "TokenRejected",
    "looks_like_jwt",
    "revoked_access_token",
]
