"""Key hierarchy: KEKs (in the provider) wrap data keys (in the database), cached briefly.

Purposes of data keys:

- ``data``: PANs, CVCs and per-customer keys. ``rotate`` makes a new active version; records
  on older versions are re-encrypted in the background (``reencrypt_batch``), resumably, and
  an old version is retired (its wrapped key destroyed) once nothing uses it.
- ``seal``: values other domains store through ``Sealer``. Rotated with ``data``; old
  versions stay decrypt-only because the vault cannot rewrite other domains' rows.
- ``mac``: root of the per-merchant fingerprint and blind-index keys (HKDF). Fingerprints
  must stay stable, so it is never rotated; KEK rotation re-wraps it like every data key.

Every key operation raises an internal ``strongbox.key.*`` event for the audit log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.vault import crypto
from strongbox.vault import repository as repo
from strongbox.vault.models import ACTIVE, RETIRED, RETIRING, DataKey, KeyEncryptionKey
from strongbox.vault.providers import KeyProvider, KeyProviderError

DATA, SEAL, MAC = "data", "seal", "mac"
PURPOSES = (DATA, SEAL, MAC)
ROTATED = (DATA, SEAL)
PLATFORM = "platform"  # merchant_id of platform-level (key) events
# How long a process may keep using a cached "active" version after a rotation elsewhere.
ACTIVE_TTL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Unwrapped:
    purpose: str
    version: int
    raw: bytes
    aead: AESGCM

    def __repr__(self) -> str:
        return f"Unwrapped(purpose={self.purpose!r}, version={self.version})"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kind: str  # "kek" or the data-key purpose
    version: int
    status: str
    created: datetime
    age_days: int
    overdue: bool
    records: int | None  # rows encrypted under it (None: not countable, e.g. sealed values)
    kek_version: int | None = None
    provider: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "status": self.status,
            "created": int(self.created.timestamp()),
            "age_days": self.age_days,
            "overdue": self.overdue,
            "records": self.records,
            "kek_version": self.kek_version,
            "provider": self.provider,
        }


def system_context(actor: str) -> RequestContext:
    return RequestContext(merchant_id=PLATFORM, actor=actor)


def key_event(
    uow: UnitOfWork, ctx: RequestContext, type_: str, resource_id: str, data: dict[str, Any]
) -> None:
    obj = {"object": "vault_key", **data}
    raise_event(uow, ctx, type_, "vault_key", resource_id, obj, merchant_id=PLATFORM)


class KeyManager:
    """Unwraps data keys through the provider and caches them for ``cache_seconds``."""

    def __init__(
        self,
        provider: KeyProvider,
        *,
        cryptoperiod: timedelta,
        cache_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.cryptoperiod = cryptoperiod
        self.cache_seconds = cache_seconds
        self._now = monotonic
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, int], tuple[Unwrapped, float]] = {}
        self._active: dict[str, tuple[int, float]] = {}
        self._derived: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"KeyManager(provider={self.provider!r})"

    def clear_cache(self) -> None:
        with self._lock:
            self._keys.clear()
            self._active.clear()
            self._derived.clear()

    # ------------------------------------------------------------------ setup

    def initialize(self, uow: UnitOfWork, ctx: RequestContext | None = None) -> bool:
        """Create KEK 1 and the first data keys at first start; check the KEK is there."""
        ctx = ctx or system_context("system:vault")
        session = uow.session
        if uow.dialect == "postgresql":
            # Processes starting together must not each create a first KEK.
            repo.lock_initialization(session)
        created = False
        kek = repo.active_kek(session)
        if kek is None:
            label = self.provider.create_kek(1)
            kek = KeyEncryptionKey(
                version=1,
                provider=self.provider.name,
                label=label,
                status=ACTIVE,
                created=uow.clock.now(),
                retired_at=None,
            )
            session.add(kek)
            session.flush()
            key_event(uow, ctx, "strongbox.key.created", "kek_1", _kek_data(kek))
            created = True
        elif not self.provider.has_kek(kek.label):
            raise KeyProviderError(
                f"The active key-encryption key (version {kek.version}) is not available from "
                f"the '{self.provider.name}' key provider.",
                code="vault_key_missing",
            )
        for purpose in PURPOSES:
            if not repo.has_data_key(session, purpose):
                self._new_data_key(uow, ctx, kek, purpose, 1)
                created = True
        return created

    def _new_data_key(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        kek: KeyEncryptionKey,
        purpose: str,
        version: int,
    ) -> DataKey:
        raw = crypto.new_key()
        row = DataKey(
            purpose=purpose,
            version=version,
            kek_version=kek.version,
            wrapped_key=self.provider.wrap(kek.label, raw),
            status=ACTIVE,
            created=uow.clock.now(),
            retired_at=None,
        )
        uow.session.add(row)
        uow.session.flush()
        key_event(uow, ctx, "strongbox.key.created", f"{purpose}_{version}", _dek_data(row))
        return row

    # ------------------------------------------------------------------ lookups

    def active(self, session: Session, purpose: str) -> Unwrapped:
        now = self._now()
        hit = self._active.get(purpose)
        if hit is not None and hit[1] > now:
            return self.key(session, purpose, hit[0])
        version = repo.active_data_key_version(session, purpose)
        if version is None:
            raise KeyProviderError("The vault has no active data key.", code="vault_key_missing")
        with self._lock:
            self._active[purpose] = (version, now + ACTIVE_TTL_SECONDS)
        return self.key(session, purpose, version)

    def key(self, session: Session, purpose: str, version: int) -> Unwrapped:
        now = self._now()
        hit = self._keys.get((purpose, version))
        if hit is not None and hit[1] > now:
            return hit[0]
        row = repo.get_data_key(session, purpose, version)
        if row is None or row.wrapped_key is None:
            raise KeyProviderError(
                "A data key needed to decrypt a record is not available.",
                code="vault_key_missing",
            )
        kek = repo.get_kek(session, row.kek_version)
        if kek is None:
            raise KeyProviderError(
                "The key-encryption key of a data key is not recorded.",
                code="vault_key_missing",
            )
        raw = self.provider.unwrap(kek.label, row.wrapped_key)
        key = Unwrapped(purpose, version, raw, AESGCM(raw))
        with self._lock:
            if self.cache_seconds > 0:
                self._keys[(purpose, version)] = (key, now + self.cache_seconds)
        return key

    def derived(self, session: Session, info: str) -> bytes:
        """A per-purpose subkey of the ``mac`` root key (fingerprints, blind indexes)."""
        cached = self._derived.get((MAC, info))
        if cached is not None:
            return cached
        root = self.key(session, MAC, 1)
        sub = crypto.derive(root.raw, info.encode())
        with self._lock:
            if len(self._derived) > 100_000:
                self._derived.clear()
            self._derived[(MAC, info)] = sub
        return sub

    # ------------------------------------------------------------------ rotation

    def rotate(self, uow: UnitOfWork, ctx: RequestContext) -> dict[str, int]:
        """New active ``data`` and ``seal`` versions; old ones become decrypt-only."""
        session = uow.session
        kek = repo.active_kek(session)
        if kek is None:
            raise KeyProviderError("The vault is not initialized.", code="vault_key_missing")
        out: dict[str, int] = {}
        for purpose in ROTATED:
            rows = repo.data_keys_with_status(session, purpose, ACTIVE, for_update=True)
            latest = repo.latest_data_key_version(session, purpose)
            for row in rows:
                row.status = RETIRING
                key_event(
                    uow, ctx, "strongbox.key.retiring", f"{purpose}_{row.version}", _dek_data(row)
                )
            new = self._new_data_key(uow, ctx, kek, purpose, (latest or 0) + 1)
            key_event(uow, ctx, "strongbox.key.rotated", f"{purpose}_{new.version}", _dek_data(new))
            out[purpose] = new.version
        with self._lock:
            self._active.clear()
        return out

    def remaining(self, session: Session) -> int:
        """Records still encrypted under a non-active ``data`` key version."""
        return repo.count_records_not_on(session, self._active_version(session, DATA))

    def _active_version(self, session: Session, purpose: str) -> int:
        version = repo.active_data_key_version(session, purpose)
        if version is None:
            raise KeyProviderError("The vault has no active data key.", code="vault_key_missing")
        return version

    def reencrypt_batch(self, uow: UnitOfWork, batch: int = 200) -> int:
        """Move up to ``batch`` records from old ``data`` versions to the active one."""
        session = uow.session
        version = self._active_version(session, DATA)
        new = self.key(session, DATA, version)
        skip = uow.dialect == "postgresql"
        done = 0
        for model, kind in repo.RECORD_MODELS:
            if done >= batch:
                break
            rows = repo.records_not_on(session, model, version, batch - done, skip_locked=skip)
            for row in rows:
                old = self.key(session, DATA, row.key_version)
                plain = crypto.decrypt(
                    old.aead,
                    row.ciphertext,
                    record_aad(row.merchant_id, row.payment_method_id, row.key_version, kind),
                )
                row.ciphertext = crypto.encrypt(
                    new.aead,
                    plain,
                    record_aad(row.merchant_id, row.payment_method_id, version, kind),
                )
                row.key_version = version
                done += 1
        if done < batch:
            subjects = repo.subject_keys_not_on(session, version, batch - done, skip_locked=skip)
            for sk in subjects:
                assert sk.wrapped_key is not None
                old = self.key(session, DATA, sk.key_version)
                raw = crypto.decrypt(
                    old.aead,
                    sk.wrapped_key,
                    subject_aad(sk.merchant_id, sk.subject_id, sk.key_version),
                )
                sk.wrapped_key = crypto.encrypt(
                    new.aead, raw, subject_aad(sk.merchant_id, sk.subject_id, version)
                )
                sk.key_version = version
                done += 1
        session.flush()
        return done

    def retire_unused(self, uow: UnitOfWork, ctx: RequestContext) -> list[int]:
        """Retire ``data`` versions that no record uses any more (destroying the wrapped key).

        A version is retired only after the active version has existed for longer than the
        "active" cache of every process, so no process can still be encrypting under it.
        """
        session = uow.session
        active = repo.first_data_key_with_status(session, DATA, ACTIVE)
        if active is None:
            return []
        if uow.clock.now() - active.created < timedelta(seconds=2 * ACTIVE_TTL_SECONDS):
            return []
        retired: list[int] = []
        for row in repo.data_keys_with_status(session, DATA, RETIRING):
            if repo.count_records_on(session, row.version):
                continue
            row.status = RETIRED
            row.wrapped_key = None
            row.retired_at = uow.clock.now()
            key_event(uow, ctx, "strongbox.key.retired", f"{DATA}_{row.version}", _dek_data(row))
            retired.append(row.version)
        if retired:
            with self._lock:
                for v in retired:
                    self._keys.pop((DATA, v), None)
        return retired

    def rotate_kek(self, uow: UnitOfWork, ctx: RequestContext) -> int:
        """Create a new KEK in the provider and re-wrap every live data key under it.

        The old KEK is destroyed in the provider only after the re-wrap commits.
        """
        session = uow.session
        old = repo.active_kek(session)
        if old is None:
            raise KeyProviderError("The vault is not initialized.", code="vault_key_missing")
        version = repo.latest_kek_version(session) + 1
        label = self.provider.create_kek(version)
        new = KeyEncryptionKey(
            version=version,
            provider=self.provider.name,
            label=label,
            status=ACTIVE,
            created=uow.clock.now(),
            retired_at=None,
        )
        session.add(new)
        labels = repo.kek_labels(session)
        rows = repo.live_data_keys_for_update(session)
        for row in rows:
            assert row.wrapped_key is not None
            raw = self.provider.unwrap(labels[row.kek_version], row.wrapped_key)
            row.wrapped_key = self.provider.wrap(label, raw)
            row.kek_version = version
        retired_labels: list[str] = []
        for kek in repo.active_keks_except(session, version):
            kek.status = RETIRED
            kek.retired_at = uow.clock.now()
            if kek.label != label:
                retired_labels.append(kek.label)
            key_event(uow, ctx, "strongbox.key.retired", f"kek_{kek.version}", _kek_data(kek))
        session.flush()
        key_event(
            uow,
            ctx,
            "strongbox.key.kek_rotated",
            f"kek_{version}",
            {**_kek_data(new), "rewrapped_data_keys": len(rows)},
        )

        def destroy() -> None:
            for old_label in retired_labels:
                self.provider.destroy_kek(old_label)

        uow.after_commit(destroy)
        return version

    # ------------------------------------------------------------------ reporting

    def list_keys(self, session: Session, now: datetime) -> list[KeyInfo]:
        out: list[KeyInfo] = []
        for kek in repo.all_keks(session):
            data_keys = repo.count_live_data_keys(session, kek.version)
            out.append(
                self._info(
                    "kek",
                    kek.version,
                    kek.status,
                    kek.created,
                    now,
                    data_keys,
                    provider=kek.provider,
                )
            )
        counts = repo.record_counts_by_version(session)
        for row in repo.all_data_keys(session):
            records = counts.get(row.version, 0) if row.purpose == DATA else None
            out.append(
                self._info(
                    row.purpose,
                    row.version,
                    row.status,
                    row.created,
                    now,
                    records,
                    kek_version=row.kek_version,
                )
            )
        return out

    def _info(
        self,
        kind: str,
        version: int,
        status: str,
        created: datetime,
        now: datetime,
        records: int | None,
        *,
        kek_version: int | None = None,
        provider: str | None = None,
    ) -> KeyInfo:
        age = now - created
        # The mac root is exempt: fingerprints must stay stable (docs/vault.md).
        overdue = status == ACTIVE and kind != MAC and age > self.cryptoperiod
        return KeyInfo(
            kind=kind,
            version=version,
            status=status,
            created=created,
            age_days=age.days,
            overdue=overdue,
            records=records,
            kek_version=kek_version,
            provider=provider,
        )


def record_aad(merchant_id: str, pm_id: str, version: int, kind: str) -> bytes:
    return f"strongbox-{kind}|{merchant_id}|{pm_id}|{version}".encode()


def subject_aad(merchant_id: str, subject_id: str, version: int) -> bytes:
    return f"strongbox-subject-key|{merchant_id}|{subject_id}|{version}".encode()


def _kek_data(kek: KeyEncryptionKey) -> dict[str, Any]:
    return {
        "kind": "kek",
        "version": kek.version,
        "provider": kek.provider,
        "status": kek.status,
    }


def _dek_data(row: DataKey) -> dict[str, Any]:
    return {
        "kind": row.purpose,
        "version": row.version,
        "kek_version": row.kek_version,
        "status": row.status,
    }
