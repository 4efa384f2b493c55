"""Queries of inbound gateway webhooks (accounts, stored events): tenant reads filter by
merchant; the URL lookup and the processing claim are system work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.webhooks.models import InboundAccount, InboundEvent


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def get_inbound_account(
    session: Session, merchant_id: str, account_id: str
) -> InboundAccount | None:
    return session.scalars(
        select(InboundAccount).where(
            InboundAccount.merchant_id == merchant_id, InboundAccount.id == account_id
        )
    ).first()


def inbound_account_for_url(
    session: Session, connector: str, account_id: str
) -> InboundAccount | None:
    """By the unguessable id in the inbound URL (the gateway is not a tenant caller)."""
    return session.scalars(
        select(InboundAccount).where(
            InboundAccount.id == account_id, InboundAccount.connector == connector
        )
    ).first()


def list_inbound_accounts(
    session: Session, merchant_id: str, page: PageRequest, created: dict[str, int] | None = None
) -> Page[InboundAccount]:
    return paginate(session, InboundAccount, merchant_id, page, created=created)


def list_inbound_events(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    status: str | None,
    created: dict[str, int] | None = None,
) -> Page[InboundEvent]:
    conds = [InboundEvent.status == status] if status else []
    return paginate(
        session,
        InboundEvent,
        merchant_id,
        page,
        conds,
        created=created,
        created_column=InboundEvent.received_at,
    )


def existing_inbound_events(
    session: Session, account_id: str, provider_event_ids: list[str]
) -> set[str]:
    """Which of the gateway's event ids the account already stored (one statement)."""
    if not provider_event_ids:
        return set()
    return set(
        session.scalars(
            select(InboundEvent.provider_event_id).where(
                InboundEvent.account_id == account_id,
                InboundEvent.provider_event_id.in_(set(provider_event_ids)),
            )
        )
    )


def claim_inbound(
    session: Session, now: datetime, until: datetime, limit: int
) -> list[InboundEvent]:
    stmt = (
        select(InboundEvent)
        .where(
            InboundEvent.status == "pending",
            (InboundEvent.claimed_until.is_(None)) | (InboundEvent.claimed_until < now),
        )
        .order_by(InboundEvent.seq)
        .limit(limit)
    )
    if _pg(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    if rows:
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.id.in_([r.id for r in rows]))
            .values(claimed_until=until)
        )
    return rows


def get_inbound_event_locked(session: Session, event_id: str) -> InboundEvent | None:
    stmt = select(InboundEvent).where(InboundEvent.id == event_id)
    if _pg(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()
