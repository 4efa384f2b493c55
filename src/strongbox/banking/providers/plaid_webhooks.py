"""Plaid webhook verification, as Plaid specifies it.

The ``Plaid-Verification`` header is a JWT (JWS compact form). Its header must say
``alg: ES256`` (anything else is refused before any key is looked at); its ``kid`` names the
key, fetched from ``/webhook_verification_key/get`` and cached by ``kid``. The signature is
checked with that key; the ``iat`` claim must be at most five minutes old; and the SHA-256 of
the raw body must equal the ``request_body_sha256`` claim (a constant-time comparison).

A key whose ``expired_at`` is set is not used for tokens issued after it expired. The cache is
in memory, per process: a restarted process fetches each key once again.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

import jwt

from strongbox.banking.providers.base import Notice, ProviderRejected
from strongbox.core.clock import Clock

MAX_AGE_SECONDS = 5 * 60
MAX_CACHED_KEYS = 64


class WebhookRejected(Exception):
    """The webhook is not from Plaid (or is stale, or its body was altered)."""


KeyFetcher = Callable[[str], dict[str, Any]]


class PlaidWebhookVerifier:
    """``verify(body, header)`` returns the parsed claims or raises ``WebhookRejected``.

    ``fetch_key(kid)`` is a network call (``PlaidProvider.webhook_verification_key``): call
    ``verify`` outside any database transaction. A key Plaid does not know rejects the
    webhook; ``ProviderUnavailable`` (Plaid unreachable) propagates, so the sender retries.
    """

    def __init__(self, fetch_key: KeyFetcher, clock: Clock) -> None:
        self._fetch = fetch_key
        self._clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # how many keys were fetched (the cache's effect, for tests and metrics)

    def _key(self, kid: str) -> dict[str, Any]:
        with self._lock:
            cached = self._keys.get(kid)
        if cached is not None:
            return cached
        try:
            key = self._fetch(kid)
        except ProviderRejected:  # Plaid knows no such key; unreachable: ProviderUnavailable
            raise WebhookRejected("no verification key for this kid") from None
        self.fetches += 1
        with self._lock:
            if len(self._keys) >= MAX_CACHED_KEYS:
                self._keys.pop(next(iter(self._keys)))
            self._keys[kid] = key
        return key

    def verify(self, body: bytes, header: str | None) -> dict[str, Any]:
        if not header:
            raise WebhookRejected("missing Plaid-Verification header")
        try:
            head = jwt.get_unverified_header(header)
        except jwt.PyJWTError:
            raise WebhookRejected("malformed JWT") from None
        if head.get("alg") != "ES256":
            raise WebhookRejected("alg is not ES256")
        kid = head.get("kid")
        if not isinstance(kid, str) or not kid:
            raise WebhookRejected("no kid")
        jwk = self._key(kid)
        if jwk.get("alg", "ES256") != "ES256" or jwk.get("kty") != "EC":
            raise WebhookRejected("the key is not an ES256 key")
        try:
            key = jwt.PyJWK(jwk, algorithm="ES256")
            claims: dict[str, Any] = jwt.decode(
                header,
                key=key.key,
                algorithms=["ES256"],
                options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            raise WebhookRejected("bad signature") from None
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise WebhookRejected("no iat")
        now = self._clock.now().timestamp()
        if now - iat > MAX_AGE_SECONDS or iat - now > MAX_AGE_SECONDS:
            raise WebhookRejected("iat is more than 5 minutes away")
        expired_at = jwk.get("expired_at")
        if isinstance(expired_at, int | float) and expired_at and iat > expired_at:
            raise WebhookRejected("the key had expired")
        claimed = claims.get("request_body_sha256")
        digest = hashlib.sha256(body).hexdigest()
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed, digest):
            raise WebhookRejected("body hash does not match")
        return claims


def plaid_notices(payload: dict[str, Any]) -> list[Notice]:
    """A verified Plaid webhook's body: one notice about its ``item_id``."""
    return [
        Notice(
            str(payload.get("item_id") or ""),
            str(payload.get("webhook_type") or ""),
            str(payload.get("webhook_code") or ""),
            payload,
        )
    ]
