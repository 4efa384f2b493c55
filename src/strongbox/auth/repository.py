from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from strongbox.auth.models import ApiKey, Merchant, MerchantOrigin
from strongbox.db.pagination import Page, PageRequest, paginate


def count_merchants(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Merchant)) or 0)


def find_key_by_hash(session: Session, key_hash: str) -> tuple[ApiKey, str | None] | None:
    """The live key with that digest and its merchant's settlement currency (one statement)."""
    row = session.execute(
        select(ApiKey, Merchant.settlement_currency)
        .join(Merchant, Merchant.id == ApiKey.merchant_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else (row[0], row[1])


def find_origin(session: Session, merchant_id: str, origin: str) -> MerchantOrigin | None:
    return session.scalars(
        select(MerchantOrigin).where(
            MerchantOrigin.merchant_id == merchant_id, MerchantOrigin.origin == origin
        )
    ).first()


def get_origin(session: Session, merchant_id: str, origin_id: str) -> MerchantOrigin | None:
    return session.scalars(
        select(MerchantOrigin).where(
            MerchantOrigin.merchant_id == merchant_id, MerchantOrigin.id == origin_id
        )
    ).first()


def count_origins(session: Session, merchant_id: str) -> int:
    stmt = select(func.count()).select_from(MerchantOrigin)
    return int(session.scalar(stmt.where(MerchantOrigin.merchant_id == merchant_id)) or 0)


def list_origins(session: Session, merchant_id: str, page: PageRequest) -> Page[MerchantOrigin]:
    return paginate(session, MerchantOrigin, merchant_id, page)


def get_merchant(session: Session, merchant_id: str) -> Merchant | None:
    return session.scalars(select(Merchant).where(Merchant.id == merchant_id)).first()
