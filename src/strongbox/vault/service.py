"""The vault's rules: tokenize and detokenize cards, CVC lifecycle, PII, blind indexes, sealing.

Callers pass a unit of work; the vault never commits. Detokenization returns ``Secret``
values and raises an internal ``strongbox.vault.detokenized`` event in the caller's
transaction, so every read of a PAN leaves an audit leaf when that transaction commits.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from strongbox.core.errors import InvalidRequestError
from strongbox.core.ids import new_id
from strongbox.core.secret import Secret
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.vault import crypto
from strongbox.vault import repository as repo
from strongbox.vault.keys import DATA, SEAL, KeyManager, record_aad, subject_aad
from strongbox.vault.models import SubjectKey
from strongbox.vault.regions import RegionalKeys, RegionUnavailableError


@dataclass(slots=True)  # not frozen: built once per tokenization, on the hot path
class SealedCard:
    """Rows ready to insert: only ciphertext and ids (no plaintext)."""

    token: str
    card: dict[str, Any]
    cvc: dict[str, Any] | None

    def __repr__(self) -> str:
        return f"SealedCard(token={self.token!r})"


@dataclass(frozen=True, slots=True)
class Detokenized:
    number: Secret[str]
    cvc: Secret[str] | None


def _event(
    uow: UnitOfWork,
    ctx: RequestContext,
    type_: str,
    merchant_id: str,
    resource_type: str,
    resource_id: str,
    data: dict[str, Any],
) -> None:
    obj = {"object": resource_type, "id": resource_id, **data}
    raise_event(uow, ctx, type_, resource_type, resource_id, obj, merchant_id=merchant_id)


def normalize_email(email: str) -> str:
    return email.strip().lower()


RegionOf = Callable[[Session, str], str | None]


class VaultService:
    def __init__(
        self,
        keys: KeyManager,
        *,
        cvc_ttl: timedelta,
        regions: RegionalKeys | None = None,
        region_of: RegionOf | None = None,
    ) -> None:
        self.keys = keys
        self.cvc_ttl = cvc_ttl
        # Data residency: subject keys of a merchant with a region are wrapped by that
        # region's provider (``vault/regions.py``); ``region_of`` reads the merchant's region.
        self.regions = regions
        self.region_of = region_of

    def __repr__(self) -> str:
        return f"VaultService(keys={self.keys!r})"

    # ------------------------------------------------------------------ cards

    def fingerprint(self, session: Session, merchant_id: str, pan: Secret[str]) -> str:
        """HMAC-SHA256 of the PAN under a per-merchant key: stable within a merchant only."""
        key = self.keys.derived(session, f"fingerprint|{merchant_id}")
        digest = crypto.mac(key, pan.reveal().encode())
        return base64.urlsafe_b64encode(digest).decode()[:16]

    def seal_card(
        self,
        session: Session,
        merchant_id: str,
        payment_method_id: str,
        pan: Secret[str],
        cvc: Secret[str] | None,
        now: datetime,
    ) -> SealedCard:
        """The vault rows for a card (PAN, and the CVC separately), encrypted; not stored."""
        key = self.keys.active(session, DATA)
        # One vault record per payment method: the token is derived from its (random) id;
        # lookups are by merchant and payment method anyway.
        token = "vtok_" + payment_method_id.partition("_")[2]
        card = {
            "id": token,
            "merchant_id": merchant_id,
            "payment_method_id": payment_method_id,
            "key_version": key.version,
            "ciphertext": crypto.encrypt(
                key.aead,
                pan.reveal().encode(),
                record_aad(merchant_id, payment_method_id, key.version, "card"),
            ),
            "created": now,
        }
        cvc_row = None
        if cvc is not None:
            cvc_row = {
                # One CVC per card: its id is derived from the token (1:1).
                "id": "vcvc_" + token.removeprefix("vtok_"),
                "merchant_id": merchant_id,
                "payment_method_id": payment_method_id,
                "key_version": key.version,
                "ciphertext": crypto.encrypt(
                    key.aead,
                    cvc.reveal().encode(),
                    record_aad(merchant_id, payment_method_id, key.version, "cvc"),
                ),
                "created": now,
                "expires_at": now + self.cvc_ttl,
            }
        return SealedCard(token, card, cvc_row)

    def store(self, session: Session, sealed: list[SealedCard]) -> None:
        """Insert sealed cards in the caller's transaction (one statement per table)."""
        if not sealed:
            return
        repo.insert_cards(
            session, [s.card for s in sealed], [s.cvc for s in sealed if s.cvc is not None]
        )

    def tokenize(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        payment_method_id: str,
        pan: Secret[str],
        cvc: Secret[str] | None,
    ) -> str:
        """Store the PAN (and the CVC, separately and briefly); return the vault token."""
        sealed = self.seal_card(
            uow.session, merchant_id, payment_method_id, pan, cvc, uow.clock.now()
        )
        self.store(uow.session, [sealed])
        return sealed.token

    def detokenize(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        merchant_id: str,
        payment_method_id: str,
        token: str,
        *,
        purpose: str,
        with_cvc: bool = True,
    ) -> Detokenized:
        """The PAN (and the CVC while it is held, if ``with_cvc``) as ``Secret`` values."""
        session = uow.session
        card = repo.card_ciphertext(session, merchant_id, token, payment_method_id)
        if card is None:
            raise InvalidRequestError(
                "This PaymentMethod's card data is not available.",
                code="payment_method_unavailable",
                param="payment_method",
            )
        key = self.keys.key(session, DATA, card.key_version)
        pan = crypto.decrypt(
            key.aead,
            card.ciphertext,
            record_aad(merchant_id, payment_method_id, card.key_version, "card"),
        ).decode()
        cvc: Secret[str] | None = None
        row = (
            repo.live_cvc_ciphertext(session, merchant_id, payment_method_id, uow.clock.now())
            if with_cvc
            else None
        )
        if row is not None:
            ck = self.keys.key(session, DATA, row.key_version)
            cvc = Secret(
                crypto.decrypt(
                    ck.aead,
                    row.ciphertext,
                    record_aad(merchant_id, payment_method_id, row.key_version, "cvc"),
                ).decode()
            )
        _event(
            uow,
            ctx,
            "strongbox.vault.detokenized",
            merchant_id,
            "payment_method",
            payment_method_id,
            {"token": token, "purpose": purpose, "cvc": cvc is not None},
        )
        return Detokenized(Secret(pan), cvc)

    def destroy_cvc(
        self, uow: UnitOfWork, ctx: RequestContext, merchant_id: str, payment_method_id: str
    ) -> int:
        """Delete the CVC of a payment method (after its first authorization)."""
        n = repo.delete_cvcs(uow.session, merchant_id, payment_method_id)
        if n:
            _event(
                uow,
                ctx,
                "strongbox.vault.cvc_destroyed",
                merchant_id,
                "payment_method",
                payment_method_id,
                {"reason": "authorized"},
            )
        return n

    def has_cvc(self, session: Session, merchant_id: str, payment_method_id: str) -> bool:
        return repo.has_cvc(session, merchant_id, payment_method_id)

    def reap_expired_cvcs(self, uow: UnitOfWork, ctx: RequestContext, limit: int = 1000) -> int:
        """Delete CVCs past their TTL (a background loop; system work across merchants)."""
        now = uow.clock.now()
        rows = repo.expired_cvcs(uow.session, now, limit)
        if not rows:
            return 0
        repo.delete_cvcs_by_seq(uow.session, [r[0] for r in rows])
        for _, merchant_id, pm_id in rows:
            _event(
                uow,
                ctx,
                "strongbox.vault.cvc_destroyed",
                merchant_id,
                "payment_method",
                pm_id,
                {"reason": "expired"},
            )
        return len(rows)

    # ------------------------------------------------------------------ PII

    def blind_index(self, session: Session, merchant_id: str, field: str, value: str) -> str:
        """A keyed HMAC of a normalized value, for equality lookups on encrypted fields."""
        key = self.keys.derived(session, f"blind-index|{field}|{merchant_id}")
        return crypto.mac(key, value.encode()).hex()

    def _read_subject_key(
        self, session: Session, merchant_id: str, subject_id: str
    ) -> tuple[SubjectKey | None, bytes | None]:
        row = repo.get_subject_key(session, merchant_id, subject_id)
        if row is None or row.wrapped_key is None:
            return row, None
        region = self._region(session, merchant_id)
        if row.region != region:
            # Never a key of another region (or of the default provider) for this merchant.
            raise RegionUnavailableError(
                "This customer's key is not held in the merchant's region.",
                code="vault_region_mismatch",
            )
        if region is not None:
            return row, self._regional().unwrap(region, row.wrapped_key)
        dek = self.keys.key(session, DATA, row.key_version)
        raw = crypto.decrypt(
            dek.aead, row.wrapped_key, subject_aad(merchant_id, subject_id, row.key_version)
        )
        return row, raw

    def _subject_key(
        self, uow: UnitOfWork, merchant_id: str, subject_id: str, *, create: bool
    ) -> bytes | None:
        session = uow.session
        row, raw = self._read_subject_key(session, merchant_id, subject_id)
        if row is not None or not create:
            return raw
        raw = crypto.new_key()
        region = self._region(session, merchant_id)
        if region is not None:
            session.add(
                SubjectKey(
                    id=new_id("subject_key"),
                    merchant_id=merchant_id,
                    subject_id=subject_id,
                    key_version=0,
                    wrapped_key=self._regional().wrap(region, raw),
                    created=uow.clock.now(),
                    destroyed_at=None,
                    region=region,
                )
            )
            session.flush()
            return raw
        dek = self.keys.active(session, DATA)
        session.add(
            SubjectKey(
                id=new_id("subject_key"),
                merchant_id=merchant_id,
                subject_id=subject_id,
                key_version=dek.version,
                wrapped_key=crypto.encrypt(
                    dek.aead, raw, subject_aad(merchant_id, subject_id, dek.version)
                ),
                created=uow.clock.now(),
                destroyed_at=None,
            )
        )
        session.flush()
        return raw

    def _region(self, session: Session, merchant_id: str) -> str | None:
        return self.region_of(session, merchant_id) if self.region_of is not None else None

    def _regional(self) -> RegionalKeys:
        if self.regions is None:
            raise RegionUnavailableError("No regional key providers are configured.")
        return self.regions

    def seal_pii(
        self, uow: UnitOfWork, merchant_id: str, subject_id: str, data: dict[str, Any]
    ) -> bytes | None:
        """Encrypt a subject's PII under its own key (created on first use)."""
        if not any(v is not None for v in data.values()):
            return None
        key = self._subject_key(uow, merchant_id, subject_id, create=True)
        if key is None:
            raise InvalidRequestError(
                "This customer's personal data was erased and cannot be written again.",
                code="resource_erased",
            )
        plain = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return crypto.encrypt(key, plain, f"strongbox-pii|{merchant_id}|{subject_id}".encode())

    def open_pii(
        self, session: Session, merchant_id: str, subject_id: str, blob: bytes | None
    ) -> dict[str, Any] | None:
        """The PII sealed by ``seal_pii``, or None if there is none or its key was destroyed."""
        if blob is None:
            return None
        _, key = self._read_subject_key(session, merchant_id, subject_id)
        if key is None:
            return None
        plain = crypto.decrypt(key, blob, f"strongbox-pii|{merchant_id}|{subject_id}".encode())
        data: dict[str, Any] = json.loads(plain)
        return data

    def shred_subject(
        self, uow: UnitOfWork, ctx: RequestContext, merchant_id: str, subject_id: str
    ) -> bool:
        """Crypto-shredding: destroy the subject's key; its PII ciphertext becomes unreadable."""
        row = repo.get_subject_key(uow.session, merchant_id, subject_id)
        if row is None:
            row = SubjectKey(
                id=new_id("subject_key"),
                merchant_id=merchant_id,
                subject_id=subject_id,
                key_version=0,
                wrapped_key=None,
                created=uow.clock.now(),
                destroyed_at=None,
            )
            uow.session.add(row)
        if row.destroyed_at is not None:
            return False
        row.wrapped_key = None
        row.destroyed_at = uow.clock.now()
        uow.session.flush()
        _event(
            uow,
            ctx,
            "strongbox.vault.subject_key_destroyed",
            merchant_id,
            "customer",
            subject_id,
            {"reason": "erasure"},
        )
        return True


_SEAL_MAGIC = b"SBv1"


class VaultSealer:
    """``core.sealing.Sealer`` under the vault's ``seal`` data keys.

    Format: ``b"SBv1" || version (4 bytes, big-endian) || nonce || ciphertext+tag``; the
    version is part of the AAD. Reads its key rows through a short read-only session.
    """

    def __init__(
        self, keys: KeyManager, read: Callable[[], AbstractContextManager[Session]]
    ) -> None:
        self.keys = keys
        self._read = read

    def __repr__(self) -> str:
        return "VaultSealer()"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        with self._read() as session:
            key = self.keys.active(session, SEAL)
        header = _SEAL_MAGIC + struct.pack(">I", key.version)
        return header + crypto.encrypt(key.aead, plaintext, header + aad)

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < 8 or sealed[:4] != _SEAL_MAGIC:
            raise crypto.DecryptionError("not a sealed value")
        (version,) = struct.unpack(">I", sealed[4:8])
        with self._read() as session:
            key = self.keys.key(session, SEAL, version)
        return crypto.decrypt(key.aead, sealed[8:], sealed[:8] + aad)
