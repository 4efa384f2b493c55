"""All routing queries. Every query filters by merchant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.routing.models import ConnectorAccount, RoutingConfig


def get_account(session: Session, merchant_id: str, account_id: str) -> ConnectorAccount | None:
    stmt = select(ConnectorAccount).where(
        ConnectorAccount.merchant_id == merchant_id,
        ConnectorAccount.id == account_id,
        ConnectorAccount.status != "deleted",
    )
    return session.scalars(stmt).first()


def accounts_by_id(
    session: Session, merchant_id: str, ids: list[str]
) -> dict[str, ConnectorAccount]:
    if not ids:
        return {}
    stmt = select(ConnectorAccount).where(
        ConnectorAccount.merchant_id == merchant_id,
        ConnectorAccount.id.in_(ids),
        ConnectorAccount.status != "deleted",
    )
    return {a.id: a for a in session.scalars(stmt)}


def list_accounts(session: Session, merchant_id: str, page: PageRequest) -> Page[ConnectorAccount]:
    return paginate(
        session, ConnectorAccount, merchant_id, page, [ConnectorAccount.status != "deleted"]
    )


def get_config(session: Session, merchant_id: str) -> RoutingConfig | None:
    stmt = select(RoutingConfig).where(RoutingConfig.merchant_id == merchant_id)
    return session.scalars(stmt).first()
