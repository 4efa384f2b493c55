"""All OAuth2 queries. Merchant-owned rows are looked up with their merchant where it is known."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from strongbox.auth.oauth.models import (
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthRefreshToken,
    OAuthRevokedAccessToken,
)
from strongbox.db.pagination import Page, PageRequest, paginate


def find_client(session: Session, client_id: str) -> OAuthClient | None:
    """Any merchant's client by id (the token endpoint learns the merchant from it)."""
    return session.scalars(select(OAuthClient).where(OAuthClient.id == client_id)).first()


def get_client(session: Session, merchant_id: str, client_id: str) -> OAuthClient | None:
    return session.scalars(
        select(OAuthClient).where(
            OAuthClient.merchant_id == merchant_id, OAuthClient.id == client_id
        )
    ).first()


def list_clients(session: Session, merchant_id: str, page: PageRequest) -> Page[OAuthClient]:
    return paginate(session, OAuthClient, merchant_id, page)


def find_code(session: Session, code_hash: str) -> OAuthAuthorizationCode | None:
    return session.scalars(
        select(OAuthAuthorizationCode).where(OAuthAuthorizationCode.code_hash == code_hash)
    ).first()


def find_refresh_token(session: Session, token_hash: str) -> OAuthRefreshToken | None:
    return session.scalars(
        select(OAuthRefreshToken).where(OAuthRefreshToken.token_hash == token_hash)
    ).first()


def revoke_family(session: Session, merchant_id: str, family_id: str, now: datetime) -> int:
    """Revoke every refresh token of a family that is not revoked yet; how many were."""
    result = session.execute(
        update(OAuthRefreshToken)
        .where(
            OAuthRefreshToken.merchant_id == merchant_id,
            OAuthRefreshToken.family_id == family_id,
            OAuthRefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def revoke_client_tokens(session: Session, merchant_id: str, client_id: str, now: datetime) -> None:
    session.execute(
        update(OAuthRefreshToken)
        .where(
            OAuthRefreshToken.merchant_id == merchant_id,
            OAuthRefreshToken.client_id == client_id,
            OAuthRefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )


def is_access_token_revoked(session: Session, jti: str) -> bool:
    found = session.scalars(
        select(OAuthRevokedAccessToken.seq).where(OAuthRevokedAccessToken.jti == jti)
    ).first()
    return found is not None
