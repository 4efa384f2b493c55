"""The access-token signing keys: ES256 (P-256), rotated, private halves sealed at rest.

One key signs at a time (the newest that is not retired). ``rotate`` makes a new key and
retires the previous one; a key older than the rotation age is rotated by the next token it
would have signed, so rotation needs no scheduler. A retired key stays in the JWKS, and keeps
verifying, until every token it signed has expired (retired + the longest access-token
lifetime + the leeway); after that its ``kid`` is unknown and its tokens are refused.

Private keys are sealed with ``core.sealing.Sealer`` (the vault's envelope encryption), bound
to their ``kid``; they are unsealed once per process and held only in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session

from strongbox.auth.oauth.models import OAuthSigningKey
from strongbox.core.clock import Clock
from strongbox.core.ids import new_id
from strongbox.core.sealing import Sealer
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event

ALGORITHM: Final = "ES256"
MAX_ACCESS_TOKEN_SECONDS: Final = 900  # 15 minutes: the longest lifetime ever accepted
LEEWAY_SECONDS: Final = 30
RELOAD_INTERVAL_SECONDS: Final = 5.0  # an unknown kid reloads the keys at most this often
REFRESH_SECONDS: Final = 300.0  # known keys are re-read this often (retired or removed keys)


def _aad(kid: str) -> bytes:
    return f"oauth_signing_key|{kid}".encode()


def public_jwk(public_key: ec.EllipticCurvePublicKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}


def published_until(row: OAuthSigningKey) -> datetime | None:
    """When the key leaves the JWKS (None: it still signs)."""
    if row.retired_at is None:
        return None
    return row.retired_at + timedelta(seconds=MAX_ACCESS_TOKEN_SECONDS + LEEWAY_SECONDS)


class SigningKeys:
    """This process's view of the signing keys (thread-safe)."""

    def __init__(self, sealer: Sealer, clock: Clock, rotation_age: timedelta) -> None:
        self._sealer = sealer
        self._clock = clock
        self._rotation_age = rotation_age
        self._lock = threading.Lock()
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}
        # kid -> (public key, published until or None while it signs)
        self._public: dict[str, tuple[ec.EllipticCurvePublicKey, datetime | None]] = {}
        self._loaded_at = -RELOAD_INTERVAL_SECONDS

    # ---- signing

    def signing_key(
        self, uow: UnitOfWork, ctx: RequestContext
    ) -> tuple[str, ec.EllipticCurvePrivateKey]:
        """The key to sign with now; makes the first key, or rotates one that is too old."""
        row = uow.session.scalars(
            select(OAuthSigningKey)
            .where(OAuthSigningKey.retired_at.is_(None))
            .order_by(OAuthSigningKey.seq.desc())
            .limit(1)
        ).first()
        if row is None or row.created + self._rotation_age <= self._clock.now():
            row = self.rotate(uow, ctx)
        return row.id, self._unseal(row)

    def rotate(self, uow: UnitOfWork, ctx: RequestContext) -> OAuthSigningKey:
        """Make a new signing key and retire the ones that signed until now."""
        now = self._clock.now()
        previous = list(
            uow.session.scalars(select(OAuthSigningKey).where(OAuthSigningKey.retired_at.is_(None)))
        )
        for old in previous:
            old.retired_at = now
        private = ec.generate_private_key(ec.SECP256R1())
        kid = new_id("oauth_signing_key")
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        row = OAuthSigningKey(
            id=kid,
            algorithm=ALGORITHM,
            public_jwk=public_jwk(private.public_key(), kid),
            private_sealed=self._sealer.seal(pem, _aad(kid)),
            created=now,
            retired_at=None,
        )
        uow.session.add(row)
        uow.flush()
        # The keys belong to the installation, not to the merchant whose request rotated them.
        system = RequestContext(merchant_id="", actor=ctx.actor, request_id=ctx.request_id)
        raise_event(
            uow,
            system,
            "strongbox.oauth_signing_key.rotated",
            "oauth_signing_key",
            kid,
            {"id": kid, "algorithm": ALGORITHM, "retired": [k.id for k in previous]},
        )
        with self._lock:
            self._private[kid] = private
            self._public[kid] = (private.public_key(), None)
            for old in previous:
                if old.id in self._public:
                    self._public[old.id] = (self._public[old.id][0], published_until(old))
        return row

    def _unseal(self, row: OAuthSigningKey) -> ec.EllipticCurvePrivateKey:
        with self._lock:
            cached = self._private.get(row.id)
        if cached is not None:
            return cached
        pem = self._sealer.unseal(row.private_sealed, _aad(row.id))
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"signing key {row.id} is not an EC key")
        with self._lock:
            self._private[row.id] = key
        return key

    # ---- verifying

    def verification_key(
        self, kid: str, open_session: Callable[[], AbstractContextManager[Session]]
    ) -> ec.EllipticCurvePublicKey | None:
        """The public key for ``kid`` while its tokens can still be valid, else None.

        An unknown ``kid`` reloads the keys from the database, at most every few seconds (a
        key made by another process becomes known; forged ids cannot make us query per call);
        known keys are re-read every few minutes (one retired or removed elsewhere).
        """
        now = self._clock.now()
        with self._lock:
            hit = self._public.get(kid)
            age = time.monotonic() - self._loaded_at
        if (hit is None and age >= RELOAD_INTERVAL_SECONDS) or age >= REFRESH_SECONDS:
            with open_session() as session:
                self._load(session)
            with self._lock:
                hit = self._public.get(kid)
        if hit is None:
            return None
        key, until = hit
        return key if until is None or now < until else None

    def _load(self, session: Session) -> None:
        rows = list(session.scalars(select(OAuthSigningKey)))
        loaded: dict[str, tuple[ec.EllipticCurvePublicKey, datetime | None]] = {}
        for row in rows:
            key = ECAlgorithm.from_jwk(
                {k: v for k, v in row.public_jwk.items() if k in ("kty", "crv", "x", "y")}
            )
            if isinstance(key, ec.EllipticCurvePublicKey):
                loaded[row.id] = (key, published_until(row))
        with self._lock:
            for kid, entry in self._public.items():
                # a key this process just made, whose transaction may not be visible yet
                if kid not in loaded and kid in self._private:
                    loaded[kid] = entry
            self._public = loaded
            self._loaded_at = time.monotonic()

    def jwks(self, session: Session) -> dict[str, Any]:
        """RFC 7517 key set: every key whose tokens may still be valid (newest first)."""
        now = self._clock.now()
        rows = session.scalars(select(OAuthSigningKey).order_by(OAuthSigningKey.seq.desc()))
        keys = []
        for row in rows:
            until = published_until(row)
            if until is None or now < until:
                keys.append(dict(row.public_jwk))
        return {"keys": keys}
