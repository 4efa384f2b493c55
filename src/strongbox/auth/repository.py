from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strongbox.auth.models import ApiKey, Merchant


def count_merchants(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Merchant)) or 0)


def find_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalars(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).first()
