"""All compliance queries: reports and scans, and the read-only queries the checks run on
other domains' tables (system-wide reads across merchants: the checks describe the
installation)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, and_, exists, func, select
from sqlalchemy.orm import Session

from strongbox.audit.models import AuditArchive, AuditEntry
from strongbox.auth.models import ApiKey
from strongbox.auth.operator_models import Operator, WebAuthnCredential
from strongbox.compliance.models import PLATFORM, ComplianceReport, VulnerabilityScan
from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.events.models import OutboxEvent
from strongbox.payments.models import PaymentAttempt, PaymentIntent, PaymentMethod
from strongbox.vault.models import DataKey, VaultCard, VaultCvc
from strongbox.webhooks.models import WebhookEndpoint

# ---------------------------------------------------------------------- reports and scans


def latest_report(session: Session) -> ComplianceReport | None:
    return session.scalar(
        select(ComplianceReport)
        .where(ComplianceReport.merchant_id == PLATFORM)
        .order_by(ComplianceReport.seq.desc())
        .limit(1)
    )


def get_report(session: Session, report_id: str) -> ComplianceReport | None:
    return session.scalar(
        select(ComplianceReport).where(
            ComplianceReport.merchant_id == PLATFORM, ComplianceReport.id == report_id
        )
    )


def list_reports(session: Session, page: PageRequest) -> Page[ComplianceReport]:
    return paginate(session, ComplianceReport, PLATFORM, page, noun="compliance report")


def latest_scan(session: Session) -> VulnerabilityScan | None:
    return session.scalar(select(VulnerabilityScan).order_by(VulnerabilityScan.seq.desc()).limit(1))


# ---------------------------------------------------------------------- 3.3.1


def expired_cvcs(session: Session, cutoff: datetime, limit: int) -> tuple[int, list[str]]:
    cond = VaultCvc.expires_at <= cutoff
    n = session.scalar(select(func.count()).select_from(VaultCvc).where(cond)) or 0
    ids = session.scalars(select(VaultCvc.id).where(cond).order_by(VaultCvc.seq).limit(limit))
    return int(n), list(ids)


def cvcs_after_authorization(session: Session, limit: int) -> tuple[int, list[str]]:
    """CVCs still held for a payment method that an authorization was decided for, or whose
    CVC check was already recorded."""
    decided = exists().where(
        PaymentIntent.merchant_id == VaultCvc.merchant_id,
        PaymentIntent.payment_method_id == VaultCvc.payment_method_id,
        PaymentAttempt.merchant_id == PaymentIntent.merchant_id,
        PaymentAttempt.payment_intent_id == PaymentIntent.id,
        PaymentAttempt.kind == "authorize",
        PaymentAttempt.status.in_(("succeeded", "failed", "requires_action")),
    )
    checked = exists().where(
        PaymentMethod.merchant_id == VaultCvc.merchant_id,
        PaymentMethod.id == VaultCvc.payment_method_id,
        PaymentMethod.card_cvc_check.in_(("pass", "fail", "unavailable")),
    )
    cond = sa.or_(decided, checked)
    n = session.scalar(select(func.count()).select_from(VaultCvc).where(cond)) or 0
    ids = session.scalars(select(VaultCvc.id).where(cond).order_by(VaultCvc.seq).limit(limit))
    return int(n), list(ids)


def count_cvcs(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(VaultCvc)) or 0)


# ---------------------------------------------------------------------- 3.4.1 / 3.5.1


def reflect(engine: Engine) -> sa.MetaData:
    md = sa.MetaData()
    md.reflect(bind=engine)
    return md


def text_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [c for c in table.columns if isinstance(c.type, sa.String | sa.JSON)]


def row_id_columns(table: sa.Table) -> list[sa.Column[Any]]:
    if "id" in table.columns:
        return [table.columns["id"]]
    return list(table.primary_key.columns)


def stream_rows(
    session: Session, table: sa.Table, columns: Sequence[sa.Column[Any]], chunk: int = 2000
) -> Iterator[Sequence[Any]]:
    """Every row's id columns and ``columns``, in chunks by primary key (keyset)."""
    pk = list(table.primary_key.columns)
    ids = row_id_columns(table)
    wanted = [*ids, *columns]
    if len(pk) != 1:  # a composite key: one ordered pass
        for r in session.execute(select(*wanted)):
            yield tuple(r)
        return
    key = pk[0]
    last: Any = None
    while True:
        stmt = select(key, *wanted).order_by(key).limit(chunk)
        if last is not None:
            stmt = stmt.where(key > last)
        rows = session.execute(stmt).all()
        if not rows:
            return
        for r in rows:
            yield tuple(r)[1:]
        last = rows[-1][0]


def cards_without_live_key(session: Session, limit: int) -> tuple[int, int, list[str]]:
    """Vault cards, and those whose data key is missing or destroyed (unreadable: fine for
    secrecy, but a sign of a broken rotation)."""
    total = int(session.scalar(select(func.count()).select_from(VaultCard)) or 0)
    live = exists().where(
        DataKey.purpose == "data",
        DataKey.version == VaultCard.key_version,
        DataKey.wrapped_key.is_not(None),
    )
    cond = ~live
    n = int(session.scalar(select(func.count()).select_from(VaultCard).where(cond)) or 0)
    ids = session.scalars(select(VaultCard.id).where(cond).order_by(VaultCard.seq).limit(limit))
    return total, n, list(ids)


# ---------------------------------------------------------------------- 3.6 / 3.7


def retired_keys_not_destroyed(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        select(DataKey.purpose, DataKey.version).where(
            DataKey.status == "retired", DataKey.wrapped_key.is_not(None)
        )
    ).all()
    return [(str(p), int(v)) for p, v in rows]


# ---------------------------------------------------------------------- 8.6


def active_secret_keys(session: Session) -> list[tuple[str, str, datetime]]:
    rows = session.execute(
        select(ApiKey.id, ApiKey.merchant_id, ApiKey.created)
        .where(ApiKey.kind == "secret", ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.seq)
    ).all()
    return [(str(i), str(m), c) for i, m, c in rows]


def last_use_by_actor(session: Session, actors: list[str]) -> dict[str, datetime]:
    """The newest audit entry per API key id (writes are audited; reads are not recorded)."""
    out: dict[str, datetime] = {}
    for i in range(0, len(actors), 500):
        part = actors[i : i + 500]
        rows = session.execute(
            select(AuditEntry.actor, func.max(AuditEntry.created))
            .where(AuditEntry.actor.in_(part))
            .group_by(AuditEntry.actor)
        ).all()
        out.update({str(a): c for a, c in rows if c is not None})
    return out


# ---------------------------------------------------------------------- 10.2.1


def events_without_audit(
    session: Session, since: datetime, limit: int
) -> tuple[int, int, list[str]]:
    """Committed events since ``since``, and those with no audit entry naming them."""
    recent = OutboxEvent.created >= since
    total = int(session.scalar(select(func.count()).select_from(OutboxEvent).where(recent)) or 0)
    audited = exists().where(AuditEntry.event_id == OutboxEvent.id)
    cond = and_(recent, ~audited)
    n = int(session.scalar(select(func.count()).select_from(OutboxEvent).where(cond)) or 0)
    ids = session.scalars(select(OutboxEvent.id).where(cond).order_by(OutboxEvent.seq).limit(limit))
    return total, n, list(ids)


# ---------------------------------------------------------------------- 10.5.1


def archives(session: Session) -> Sequence[AuditArchive]:
    return session.scalars(select(AuditArchive).order_by(AuditArchive.first_index)).all()


def oldest_entry(session: Session) -> datetime | None:
    return session.scalar(select(func.min(AuditEntry.created)))


# ---------------------------------------------------------------------- 4.2.1 and events


def plaintext_endpoints(session: Session, limit: int) -> tuple[int, list[str]]:
    cond = and_(WebhookEndpoint.status == "enabled", WebhookEndpoint.url.like("http:%"))
    n = int(session.scalar(select(func.count()).select_from(WebhookEndpoint).where(cond)) or 0)
    ids = session.scalars(select(WebhookEndpoint.id).where(cond).limit(limit))
    return n, list(ids)


def merchants_subscribed_to(session: Session, event_type: str) -> list[str]:
    """Merchants with an enabled endpoint that lists ``event_type`` by name (not ``*``:
    platform findings go only to those who asked for them)."""
    rows = session.execute(
        select(WebhookEndpoint.merchant_id, WebhookEndpoint.enabled_events).where(
            WebhookEndpoint.status == "enabled"
        )
    ).all()
    return sorted({str(m) for m, events in rows if event_type in (events or [])})


# ------------------------------------------------------------------ operators (issue 17)


def operator_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Operator)) or 0)


def operators_locked(session: Session, now: datetime) -> int:
    stmt = select(func.count()).select_from(Operator).where(Operator.locked_until > now)
    return int(session.scalar(stmt) or 0)


def active_operators_without_second_factor(session: Session) -> list[str]:
    """Active operators with neither a confirmed TOTP nor a WebAuthn credential (ids)."""
    has_key = exists().where(WebAuthnCredential.operator_id == Operator.id)
    stmt = (
        select(Operator.id)
        .where(
            Operator.status == "active",
            Operator.totp_confirmed.is_(False),
            ~has_key,
        )
        .order_by(Operator.seq)
    )
    return list(session.scalars(stmt))
