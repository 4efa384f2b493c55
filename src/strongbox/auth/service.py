"""Merchants and API keys. Keys are random, shown once, and stored only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from strongbox.auth import repository
from strongbox.auth.models import ApiKey, Merchant
from strongbox.core.errors import AuthenticationError
from strongbox.core.ids import new_id, random_token
from strongbox.core.secret import Secret
from strongbox.db.uow import UnitOfWork

KEY_BODY_LENGTH = 32  # base62 characters ≈ 190 bits


@dataclass(frozen=True, slots=True)
class AuthContext:
    merchant_id: str
    key_id: str
    kind: str  # secret | publishable | oauth (a bearer JWT, auth/oauth/tokens.py)
    livemode: bool
    # None: an unrestricted secret key; otherwise the permissions granted (auth/permissions.py)
    permissions: frozenset[str] | None = None
    # The merchant's settlement currency (None: payments settle in their own currency)
    settlement_currency: str | None = None
    # restricted keys: the client addresses/networks allowed (None: any); rolled or expiring
    # keys: refused from this instant on (checked on every use, cached or not)
    allowed_ips: tuple[str, ...] | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewMerchant:
    merchant: Merchant
    secret_key: Secret[str]
    publishable_key: Secret[str]


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def redact_key(raw: str) -> str:
    prefix = raw[: raw.index("_", 3) + 1] if raw.count("_") >= 2 else raw[:3]
    return f"{prefix}…{raw[-4:]}"


def _new_key(uow: UnitOfWork, merchant_id: str, kind: str) -> Secret[str]:
    prefix = "sk_test_" if kind == "secret" else "pk_test_"
    raw = prefix + random_token(KEY_BODY_LENGTH)
    uow.session.add(
        ApiKey(
            id=new_id("api_key"),
            merchant_id=merchant_id,
            kind=kind,
            livemode=False,
            key_hash=hash_key(raw),
            redacted=redact_key(raw),
            created=uow.clock.now(),
            revoked_at=None,
        )
    )
    return Secret(raw)


def create_merchant(uow: UnitOfWork, name: str, region: str | None = None) -> NewMerchant:
    """A merchant and its first keys. ``region`` (data residency, fixed at creation): the
    region whose key provider holds its customers' personal-data keys."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("merchant name must be 1 to 200 characters")
    merchant = Merchant(id=new_id("merchant"), name=name, created=uow.clock.now(), region=region)
    uow.session.add(merchant)
    uow.session.flush()
    sk = _new_key(uow, merchant.id, "secret")
    pk = _new_key(uow, merchant.id, "publishable")
    uow.session.flush()
    return NewMerchant(merchant=merchant, secret_key=sk, publishable_key=pk)


def has_merchants(session: Session) -> bool:
    return repository.count_merchants(session) > 0


class KeyCache:
    """A short-lived in-memory cache of key digests → context (revocation visible within ttl)."""

    def __init__(self, ttl_seconds: float = 30.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._data: dict[str, tuple[float, AuthContext]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> AuthContext | None:
        with self._lock:
            hit = self._data.get(digest)
            if hit is None or hit[0] < time.monotonic():
                return None
            return hit[1]

    def put(self, digest: str, ctx: AuthContext) -> None:
        with self._lock:
            if len(self._data) >= self._max:
                self._data.clear()
            self._data[digest] = (time.monotonic() + self._ttl, ctx)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def authenticate(
    open_session: Callable[[], AbstractContextManager[Session]],
    raw_key: str,
    cache: KeyCache | None = None,
    now: Callable[[], datetime] | None = None,
) -> AuthContext:
    """Resolve a raw key; a database session is opened only when the cache cannot answer.

    The cache carries a key's permissions, address allowlist and expiry; an expired key is
    refused whether it came from the cache or the database (``now``: the clock)."""
    if not raw_key.startswith(("sk_", "pk_", "rk_")) or len(raw_key) > 200:
        raise AuthenticationError(_invalid_key_message(raw_key))
    digest = hash_key(raw_key)
    ctx = cache.get(digest) if cache is not None else None
    if ctx is None:
        with open_session() as session:
            found = repository.find_key_by_hash(session, digest)
            if found is None:
                raise AuthenticationError(_invalid_key_message(raw_key))
            ctx = context_of(*found)
        if cache is not None:
            cache.put(digest, ctx)
    if ctx.expires_at is not None and now is not None and ctx.expires_at <= now():
        raise AuthenticationError(
            f"Expired API Key provided: {_invalid_key_message(raw_key).rsplit(' ', 1)[-1]}",
            code="api_key_expired",
        )
    return ctx


def context_of(key: ApiKey, settlement_currency: str | None = None) -> AuthContext:
    """The authentication context of a stored key (restricted keys carry their limits) and
    its merchant's settlement currency."""
    limits = key.restrictions
    if limits is None:
        return AuthContext(
            merchant_id=key.merchant_id,
            key_id=key.id,
            kind=key.kind,
            livemode=key.livemode,
            expires_at=key.expires_at,
            settlement_currency=settlement_currency,
        )
    ips = limits.get("allowed_ips")
    return AuthContext(
        merchant_id=key.merchant_id,
        key_id=key.id,
        kind=key.kind,
        livemode=key.livemode,
        permissions=frozenset(limits.get("permissions", ())),
        allowed_ips=tuple(ips) if ips else None,
        expires_at=key.expires_at,
        settlement_currency=settlement_currency,
    )


def _invalid_key_message(raw: str) -> str:
    shown = f"{raw[:8]}{'*' * 8}{raw[-4:]}" if len(raw) > 16 else "(redacted)"
    return f"Invalid API Key provided: {shown}"
