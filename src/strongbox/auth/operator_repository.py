"""All queries of operator identity (operators, factors, sessions, invitations, grants)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from strongbox.auth.operator_models import (
    AccessGrant,
    Invitation,
    Operator,
    OperatorSession,
    RecoveryCode,
    WebAuthnCredential,
)
from strongbox.db.pagination import Page, PageRequest, paginate


def find_by_email(session: Session, email: str) -> Operator | None:
    return session.scalars(select(Operator).where(Operator.email == email)).first()


def get_operator(session: Session, merchant_id: str, operator_id: str) -> Operator | None:
    return session.scalars(
        select(Operator).where(Operator.merchant_id == merchant_id, Operator.id == operator_id)
    ).first()


def list_operators(session: Session, merchant_id: str, page: PageRequest) -> Page[Operator]:
    return paginate(session, Operator, merchant_id, page, noun="operator")


def find_session(session: Session, token_hash: str) -> OperatorSession | None:
    return session.scalars(
        select(OperatorSession).where(
            OperatorSession.token_hash == token_hash, OperatorSession.ended_at.is_(None)
        )
    ).first()


def end_sessions(session: Session, operator_id: str, now: datetime) -> None:
    session.execute(
        update(OperatorSession)
        .where(OperatorSession.operator_id == operator_id, OperatorSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def unused_recovery_codes(session: Session, operator_id: str) -> list[RecoveryCode]:
    return list(
        session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.operator_id == operator_id, RecoveryCode.used_at.is_(None)
            )
        )
    )


def delete_factors(session: Session, operator_id: str) -> None:
    for model in (RecoveryCode, WebAuthnCredential):
        for row in session.scalars(select(model).where(model.operator_id == operator_id)):
            session.delete(row)


def webauthn_credentials(session: Session, operator_id: str) -> list[WebAuthnCredential]:
    return list(
        session.scalars(
            select(WebAuthnCredential).where(WebAuthnCredential.operator_id == operator_id)
        )
    )


def find_invitation(session: Session, token_hash: str) -> Invitation | None:
    return session.scalars(select(Invitation).where(Invitation.token_hash == token_hash)).first()


def get_grant(session: Session, merchant_id: str, grant_id: str) -> AccessGrant | None:
    return session.scalars(
        select(AccessGrant).where(
            AccessGrant.merchant_id == merchant_id, AccessGrant.id == grant_id
        )
    ).first()


def active_grants(session: Session, operator_id: str, now: datetime) -> list[AccessGrant]:
    return list(
        session.scalars(
            select(AccessGrant).where(
                AccessGrant.operator_id == operator_id,
                AccessGrant.status == "active",
                AccessGrant.expires_at > now,
            )
        )
    )


def list_grants(
    session: Session, merchant_id: str, page: PageRequest, operator_id: str | None
) -> Page[AccessGrant]:
    conditions = [] if operator_id is None else [AccessGrant.operator_id == operator_id]
    return paginate(session, AccessGrant, merchant_id, page, conditions, noun="access grant")


def due_grants(session: Session, now: datetime, limit: int) -> list[AccessGrant]:
    return list(
        session.scalars(
            select(AccessGrant)
            .where(AccessGrant.status == "active", AccessGrant.expires_at <= now)
            .order_by(AccessGrant.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
