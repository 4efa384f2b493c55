"""All vault queries: cards, CVCs, subject keys, data keys and KEKs.

Functions over the caller's ``Session``; none commits. Card, CVC and subject-key queries
filter by merchant. The key tables are platform-level (no ``merchant_id``), and the CVC reaper,
re-encryption and key reports are system work across merchants (``docs/architecture.md``).
Each function issues exactly the statements its docstring names, so the services' statement
counts (the tokenization hot path above all) are what they read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, delete, func, insert, select, text
from sqlalchemy.orm import Session

from strongbox.vault.models import (
    ACTIVE,
    DataKey,
    KeyEncryptionKey,
    SubjectKey,
    VaultCard,
    VaultCvc,
)

# Records encrypted under a ``data`` key version: cards and CVCs ("card"/"cvc" in the AAD).
RECORD_MODELS: tuple[tuple[type[VaultCard] | type[VaultCvc], str], ...] = (
    (VaultCard, "card"),
    (VaultCvc, "cvc"),
)
# PostgreSQL: a transaction-scoped advisory lock serializing the vault's first start.
_INIT_LOCK_ID = 72520104

# ---------------------------------------------------------------------- cards and CVCs


def insert_cards(session: Session, cards: list[dict[str, Any]], cvcs: list[dict[str, Any]]) -> None:
    """One INSERT for the cards, one for the CVCs (none if there are none)."""
    session.execute(insert(VaultCard), cards)
    if cvcs:
        session.execute(insert(VaultCvc), cvcs)


def card_ciphertext(
    session: Session, merchant_id: str, token: str, payment_method_id: str
) -> Row[int, bytes] | None:
    """``(key_version, ciphertext)`` of a vaulted card, or None (one SELECT)."""
    return session.execute(
        select(VaultCard.key_version, VaultCard.ciphertext).where(
            VaultCard.merchant_id == merchant_id,
            VaultCard.id == token,
            VaultCard.payment_method_id == payment_method_id,
        )
    ).first()


def live_cvc_ciphertext(
    session: Session, merchant_id: str, payment_method_id: str, now: datetime
) -> Row[int, bytes] | None:
    """``(key_version, ciphertext)`` of a CVC still within its TTL, or None (one SELECT)."""
    return session.execute(
        select(VaultCvc.key_version, VaultCvc.ciphertext).where(
            VaultCvc.merchant_id == merchant_id,
            VaultCvc.payment_method_id == payment_method_id,
            VaultCvc.expires_at > now,
        )
    ).first()


def delete_cvcs(session: Session, merchant_id: str, payment_method_id: str) -> int:
    """Delete a payment method's CVC; the number of rows deleted (one DELETE)."""
    result = session.execute(
        delete(VaultCvc).where(
            VaultCvc.merchant_id == merchant_id,
            VaultCvc.payment_method_id == payment_method_id,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def has_cvc(session: Session, merchant_id: str, payment_method_id: str) -> bool:
    return (
        session.scalar(
            select(VaultCvc.seq)
            .where(
                VaultCvc.merchant_id == merchant_id,
                VaultCvc.payment_method_id == payment_method_id,
            )
            .limit(1)
        )
        is not None
    )


def expired_cvcs(session: Session, now: datetime, limit: int) -> Sequence[Row[int, str, str]]:
    """``(seq, merchant_id, payment_method_id)`` of CVCs past their TTL, oldest first
    (system work across merchants)."""
    return session.execute(
        select(VaultCvc.seq, VaultCvc.merchant_id, VaultCvc.payment_method_id)
        .where(VaultCvc.expires_at <= now)
        .order_by(VaultCvc.expires_at)
        .limit(limit)
    ).all()


def delete_cvcs_by_seq(session: Session, seqs: list[int]) -> None:
    session.execute(delete(VaultCvc).where(VaultCvc.seq.in_(seqs)))


# ---------------------------------------------------------------------- subject keys


def get_subject_key(session: Session, merchant_id: str, subject_id: str) -> SubjectKey | None:
    return session.scalars(
        select(SubjectKey).where(
            SubjectKey.merchant_id == merchant_id, SubjectKey.subject_id == subject_id
        )
    ).first()


# ---------------------------------------------------------------------- KEKs and data keys


def lock_initialization(session: Session) -> None:
    """PostgreSQL only: processes starting together must not each create a first KEK."""
    session.execute(text(f"SELECT pg_advisory_xact_lock({_INIT_LOCK_ID})"))


def active_kek(session: Session) -> KeyEncryptionKey | None:
    return session.scalars(
        select(KeyEncryptionKey)
        .where(KeyEncryptionKey.status == ACTIVE)
        .order_by(KeyEncryptionKey.version.desc())
        .limit(1)
    ).first()


def get_kek(session: Session, version: int) -> KeyEncryptionKey | None:
    return session.get(KeyEncryptionKey, version)


def all_keks(session: Session) -> Sequence[KeyEncryptionKey]:
    return session.scalars(select(KeyEncryptionKey).order_by(KeyEncryptionKey.version)).all()


def kek_labels(session: Session) -> dict[int, str]:
    return {k.version: k.label for k in session.scalars(select(KeyEncryptionKey)).all()}


def latest_kek_version(session: Session) -> int:
    return session.scalar(select(func.max(KeyEncryptionKey.version))) or 0


def active_keks_except(session: Session, version: int) -> Sequence[KeyEncryptionKey]:
    return session.scalars(
        select(KeyEncryptionKey).where(
            KeyEncryptionKey.status == ACTIVE, KeyEncryptionKey.version != version
        )
    ).all()


def has_data_key(session: Session, purpose: str) -> bool:
    return (
        session.scalar(select(DataKey.seq).where(DataKey.purpose == purpose).limit(1)) is not None
    )


def active_data_key_version(session: Session, purpose: str) -> int | None:
    return session.scalar(
        select(DataKey.version)
        .where(DataKey.purpose == purpose, DataKey.status == ACTIVE)
        .order_by(DataKey.version.desc())
        .limit(1)
    )


def get_data_key(session: Session, purpose: str, version: int) -> DataKey | None:
    return session.scalars(
        select(DataKey).where(DataKey.purpose == purpose, DataKey.version == version)
    ).first()


def first_data_key_with_status(session: Session, purpose: str, status: str) -> DataKey | None:
    return session.scalars(
        select(DataKey).where(DataKey.purpose == purpose, DataKey.status == status)
    ).first()


def data_keys_with_status(
    session: Session, purpose: str, status: str, *, for_update: bool = False
) -> Sequence[DataKey]:
    q = select(DataKey).where(DataKey.purpose == purpose, DataKey.status == status)
    return session.scalars(q.with_for_update() if for_update else q).all()


def latest_data_key_version(session: Session, purpose: str) -> int | None:
    return session.scalar(select(func.max(DataKey.version)).where(DataKey.purpose == purpose))


def live_data_keys_for_update(session: Session) -> Sequence[DataKey]:
    """Every data key whose wrapped key still exists, locked (KEK rotation re-wraps them)."""
    return session.scalars(
        select(DataKey).where(DataKey.wrapped_key.is_not(None)).with_for_update()
    ).all()


def all_data_keys(session: Session) -> Sequence[DataKey]:
    return session.scalars(select(DataKey).order_by(DataKey.purpose, DataKey.version)).all()


def count_live_data_keys(session: Session, kek_version: int) -> int | None:
    return session.scalar(
        select(func.count())
        .select_from(DataKey)
        .where(DataKey.kek_version == kek_version, DataKey.wrapped_key.is_not(None))
    )


# ---------------------------------------------------------------------- records per key version


def count_records_not_on(session: Session, version: int) -> int:
    """Cards, CVCs and live subject keys under another ``data`` version (three COUNTs)."""
    total = 0
    for model, _ in RECORD_MODELS:
        total += (
            session.scalar(
                select(func.count()).select_from(model).where(model.key_version != version)
            )
            or 0
        )
    total += (
        session.scalar(
            select(func.count())
            .select_from(SubjectKey)
            .where(
                SubjectKey.key_version != version,
                SubjectKey.wrapped_key.is_not(None),
                SubjectKey.region.is_(None),
            )
        )
        or 0
    )
    return total


def count_records_on(session: Session, version: int) -> int:
    """Cards, CVCs and live subject keys under ``data`` version ``version`` (three COUNTs)."""
    used = 0
    for model, _ in RECORD_MODELS:
        used += (
            session.scalar(
                select(func.count()).select_from(model).where(model.key_version == version)
            )
            or 0
        )
    used += (
        session.scalar(
            select(func.count())
            .select_from(SubjectKey)
            .where(
                SubjectKey.key_version == version,
                SubjectKey.wrapped_key.is_not(None),
                SubjectKey.region.is_(None),
            )
        )
        or 0
    )
    return used


def record_counts_by_version(session: Session) -> dict[int, int]:
    """Records per ``data`` key version: cards, CVCs and live subject keys (three GROUP BYs)."""
    counts: dict[int, int] = {}
    for model, _ in RECORD_MODELS:
        for version, n in session.execute(
            select(model.key_version, func.count()).group_by(model.key_version)
        ).all():
            counts[version] = counts.get(version, 0) + n
    for version, n in session.execute(
        select(SubjectKey.key_version, func.count())
        .where(SubjectKey.wrapped_key.is_not(None), SubjectKey.region.is_(None))
        .group_by(SubjectKey.key_version)
    ).all():
        counts[version] = counts.get(version, 0) + n
    return counts


def records_not_on(
    session: Session,
    model: type[VaultCard] | type[VaultCvc],
    version: int,
    limit: int,
    *,
    skip_locked: bool,
) -> Sequence[VaultCard | VaultCvc]:
    """Up to ``limit`` cards or CVCs under another ``data`` version, in insertion order
    (``FOR UPDATE SKIP LOCKED`` with ``skip_locked``, so several workers can share the work)."""
    q = select(model).where(model.key_version != version).order_by(model.seq).limit(limit)
    rows = session.scalars(q.with_for_update(skip_locked=True) if skip_locked else q).all()
    return cast("Sequence[VaultCard | VaultCvc]", rows)


def subject_keys_not_on(
    session: Session, version: int, limit: int, *, skip_locked: bool
) -> Sequence[SubjectKey]:
    """Up to ``limit`` live subject keys wrapped under another ``data`` version."""
    q = (
        select(SubjectKey)
        .where(
            SubjectKey.key_version != version,
            SubjectKey.wrapped_key.is_not(None),
            SubjectKey.region.is_(None),
        )
        .order_by(SubjectKey.seq)
        .limit(limit)
    )
    return session.scalars(q.with_for_update(skip_locked=True) if skip_locked else q).all()
