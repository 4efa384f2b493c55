"""Access tokens: short-lived JWTs (RFC 9068 profile), minted and validated strictly.

A token is a JWS signed with the current ES256 key (``keys``), header
``{"alg": "ES256", "typ": "at+jwt", "kid": …}``, claims ``iss``, ``aud``, ``sub`` (the
merchant), ``client_id``, ``exp``, ``nbf``, ``iat``, ``jti`` and ``scope`` (space-separated
permissions, ``auth/permissions.py``). Lifetime at most 15 minutes.

Validation refuses, each for a reason of its own (``TokenRejected.reason``): a malformed
token; any algorithm but ES256 (``none``, HMAC — a token "signed" with the public key as an
HMAC secret —, RSA); another ``typ``; an unknown or expired ``kid``; a bad signature; another
issuer or audience (exact match); expired or not yet valid (30 s leeway); a lifetime over 15
minutes; a missing claim; an unknown permission in ``scope``; a revoked token or client.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from strongbox.auth import permissions
from strongbox.auth.oauth.keys import (
    ALGORITHM,
    LEEWAY_SECONDS,
    MAX_ACCESS_TOKEN_SECONDS,
    SigningKeys,
)
from strongbox.auth.oauth.models import OAuthClient, OAuthRevokedAccessToken
from strongbox.core.clock import Clock, to_unix
from strongbox.core.errors import AuthenticationError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext

TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - the JWT typ (RFC 9068)
MAX_TOKEN_LENGTH: Final = 4096
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "client_id", "exp", "nbf", "iat", "jti", "scope")


class TokenRejected(AuthenticationError):
    """A bearer token that is not a valid access token; ``reason`` says which rule failed."""

    default_code = "access_token_invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Invalid OAuth access token ({reason.replace('_', ' ')}).",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccessClaims:
    jti: str
    merchant_id: str
    client_id: str
    scope: frozenset[str]
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who mints tokens for whom: the ``iss`` and ``aud`` values and the keys."""

    keys: SigningKeys
    issuer: str
    audience: str
    clock: Clock
    access_token_seconds: int

    def mint(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        *,
        merchant_id: str,
        client_id: str,
        scope: frozenset[str],
        expires_in: int | None = None,
    ) -> tuple[str, AccessClaims]:
        seconds = min(expires_in or self.access_token_seconds, MAX_ACCESS_TOKEN_SECONDS)
        kid, private = self.keys.signing_key(uow, ctx)
        now = self.clock.now().replace(microsecond=0)
        claims = AccessClaims(
            jti=new_id("oauth_access_token"),
            merchant_id=merchant_id,
            client_id=client_id,
            scope=scope,
            issued_at=now,
            expires_at=now + timedelta(seconds=seconds),
        )
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": merchant_id,
            "client_id": client_id,
            "iat": to_unix(now),
            "nbf": to_unix(now),
            "exp": to_unix(claims.expires_at),
            "jti": claims.jti,
            "scope": " ".join(sorted(scope)),
        }
        token = jwt.encode(
            payload, private, algorithm=ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE}
        )
        return token, claims

    def validate(
        self, token: str, open_session: Callable[[], AbstractContextManager[Session]]
    ) -> AccessClaims:
        """The claims of a valid token (signature, header and claims only; no revocation)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRejected("algorithm_not_allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise TokenRejected("wrong_type")
        kid = header.get("kid")
        if not isinstance(kid, str) or len(kid) > 64:
            raise TokenRejected("unknown_key")
        key = self.keys.verification_key(kid, open_session)
        if key is None:
            raise TokenRejected("unknown_key")
        payload = self._decode(token, key)
        claims = _claims(payload)
        # Times against the injectable clock (PyJWT would read the system clock).
        now = to_unix(self.clock.now())
        if now > payload["exp"] + LEEWAY_SECONDS:
            raise TokenRejected("expired")
        nbf = payload["nbf"]
        if not isinstance(nbf, int) or now + LEEWAY_SECONDS < max(nbf, payload["iat"]):
            raise TokenRejected("not_yet_valid")
        return claims

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "strict_aud": True,
                    "verify_exp": False,  # checked against our clock in ``validate``
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise TokenRejected("wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("wrong_issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad_signature") from None
        except jwt.MissingRequiredClaimError:
            raise TokenRejected("missing_claim") from None
        except jwt.PyJWTError:
            raise TokenRejected("malformed") from None
        return payload


def _claims(payload: dict[str, Any]) -> AccessClaims:
    exp, iat = payload["exp"], payload["iat"]
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise TokenRejected("malformed")
    if exp - iat > MAX_ACCESS_TOKEN_SECONDS:
        raise TokenRejected("lifetime_too_long")
    scope, sub, client_id, jti = (
        payload["scope"],
        payload["sub"],
        payload["client_id"],
        payload["jti"],
    )
    if not all(isinstance(v, str) for v in (scope, sub, client_id, jti)):
        raise TokenRejected("malformed")
    try:
        granted = permissions.parse(scope.split(" "))
    except permissions.UnknownPermissionError:
        raise TokenRejected("unknown_scope") from None
    return AccessClaims(
        jti=jti,
        merchant_id=sub,
        client_id=client_id,
        scope=granted,
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
    )


def is_revoked(session: Session, claims: AccessClaims) -> bool:
    """One query: the token's ``jti`` was revoked, or its client was (or no longer exists)."""
    revoked_jti = (
        select(OAuthRevokedAccessToken.seq)
        .where(OAuthRevokedAccessToken.jti == claims.jti)
        .exists()
    )
    row = session.execute(
        select(OAuthClient.revoked_at, revoked_jti).where(
            OAuthClient.id == claims.client_id, OAuthClient.merchant_id == claims.merchant_id
        )
    ).first()
    return row is None or row[0] is not None or bool(row[1])


def looks_like_jwt(value: str) -> bool:
    """A compact JWS (``ey….….…``), as opposed to an API key (``sk_…``/``pk_…``/``rk_…``)."""
    return value.startswith("ey") and value.count(".") == 2


def authenticate_bearer(
    issuer: Issuer,
    open_session: Callable[[], AbstractContextManager[Session]],
    token: str,
) -> AccessClaims:
    """A valid, unrevoked access token's claims, or ``TokenRejected`` (401)."""
    claims = issuer.validate(token, open_session)
    with open_session() as session:
        if is_revoked(session, claims):
            raise TokenRejected("revoked")
    return claims
