"""All reconciliation queries. Every query filters by merchant.

What Strongbox recorded is read from the ledger (the capture and refund postings, and the
capture's fee) joined with the payment tables for the connector account and the gateway's
reference: the ledger says what money moved, the payment says where.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.ledger.models import KIND_POST, KIND_POSTED, LedgerTransfer
from strongbox.payments.models import PaymentAttempt, PaymentIntent, Refund
from strongbox.reconciliation.formats import CHARGE, REFUND, Line
from strongbox.reconciliation.matching import Item
from strongbox.reconciliation.models import (
    ReconException,
    ReconMatch,
    ReconRun,
    ReportImport,
    ReportLine,
)
from strongbox.routing.models import ConnectorAccount
from strongbox.webhooks.models import InboundEvent

CHUNK = 900  # bound parameters per IN list (SQLite allows 32,766; PostgreSQL 65,535)

# The ledger codes of the postings reconciled (ledger/handlers.py).
CODE_CHARGE = "charge"
CODE_FEE = "fee"
CODE_REFUND = "refund"


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


# ------------------------------------------------------------------ connector accounts


def connector_account(session: Session, merchant_id: str, account_id: str) -> Any:
    stmt = select(ConnectorAccount).where(
        ConnectorAccount.merchant_id == merchant_id,
        ConnectorAccount.id == account_id,
        ConnectorAccount.status != "deleted",
    )
    return session.scalars(stmt).first()


def account_owner(session: Session, account_id: str) -> str | None:
    """The merchant that owns a connector account (operator commands name only the account)."""
    stmt = select(ConnectorAccount.merchant_id).where(
        ConnectorAccount.id == account_id, ConnectorAccount.status != "deleted"
    )
    owner: str | None = session.scalar(stmt)
    return owner


def accounts_of_connector(session: Session, connector: str) -> list[tuple[str, str]]:
    """(merchant, account) of every enabled account of a connector (the nightly fetch)."""
    stmt = (
        select(ConnectorAccount.merchant_id, ConnectorAccount.id)
        .where(ConnectorAccount.connector == connector, ConnectorAccount.status == "enabled")
        .order_by(ConnectorAccount.seq)
    )
    return [(m, a) for m, a in session.execute(stmt)]


# ------------------------------------------------------------------ imports and lines


def import_by_digest(
    session: Session, merchant_id: str, account_id: str, sha256: str
) -> ReportImport | None:
    stmt = select(ReportImport).where(
        ReportImport.merchant_id == merchant_id,
        ReportImport.connector_account_id == account_id,
        ReportImport.sha256 == sha256,
    )
    return session.scalars(stmt).first()


def known_line_ids(
    session: Session, merchant_id: str, account_id: str, line_ids: Sequence[str]
) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(line_ids):
        stmt = select(ReportLine.line_id).where(
            ReportLine.merchant_id == merchant_id,
            ReportLine.connector_account_id == account_id,
            ReportLine.line_id.in_(chunk),
        )
        out.update(v for v in session.scalars(stmt) if v is not None)
    return out


def insert_lines(session: Session, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 5000):
        session.execute(insert(ReportLine), rows[i : i + 5000])


def lines_of_day(
    session: Session, merchant_id: str, account_id: str, day: str
) -> list[tuple[str, Line]]:
    stmt = (
        select(ReportLine)
        .where(
            ReportLine.merchant_id == merchant_id,
            ReportLine.connector_account_id == account_id,
            ReportLine.day == day,
        )
        .order_by(ReportLine.seq)
    )
    out = []
    seen: dict[str, int] = {}
    for r in session.scalars(stmt):
        key = r.line_id or f"{r.import_id}:{r.line_no}"
        # A line id listed again (a duplicate in the gateway's file) gets its own key.
        n = seen[key] = seen.get(key, 0) + 1
        if n > 1:
            key = f"{key}#{n}"
        out.append(
            (
                key,
                Line(
                    line_no=r.line_no,
                    kind=r.kind,
                    occurred=r.occurred,
                    line_id=r.line_id,
                    refs=tuple(r.refs or ()),
                    amount=r.amount,
                    fee=r.fee,
                    currency=r.currency,
                    description=r.description,
                ),
            )
        )
    return out


def list_imports(session: Session, merchant_id: str, page: PageRequest) -> Page[ReportImport]:
    return paginate(session, ReportImport, merchant_id, page, noun="report import")


# ------------------------------------------------------------------ what Strongbox recorded


def recorded_items(
    session: Session,
    merchant_id: str,
    account_id: str,
    *,
    since: datetime,
    until: datetime,
    refs: Sequence[str] = (),
    window: bool = True,
) -> list[Item]:
    """Captures and succeeded refunds of the account's payments: those posted in
    ``[since, until)`` (unless ``window`` is false) and those any of ``refs`` names (gateway
    reference or own id)."""
    in_window = and_(LedgerTransfer.created >= since, LedgerTransfer.created < until)
    charges: dict[str, tuple[Any, ...]] = {}
    refunds: dict[str, tuple[Any, ...]] = {}
    conditions: list[Any] = [in_window] if window else []
    for chunk in _chunks(list(refs)):
        conditions.append(
            or_(PaymentIntent.gateway_reference.in_(chunk), PaymentIntent.id.in_(chunk))
        )
    for cond in conditions:
        charge_stmt = (
            select(
                LedgerTransfer.source,
                LedgerTransfer.amount,
                LedgerTransfer.currency,
                LedgerTransfer.created,
                PaymentIntent.gateway_reference,
            )
            .join(
                PaymentIntent,
                and_(
                    PaymentIntent.id == LedgerTransfer.source,
                    PaymentIntent.merchant_id == LedgerTransfer.merchant_id,
                ),
            )
            .where(
                LedgerTransfer.merchant_id == merchant_id,
                LedgerTransfer.code == CODE_CHARGE,
                LedgerTransfer.kind.in_((KIND_POSTED, KIND_POST)),
                PaymentIntent.connector_account_id == account_id,
                cond,
            )
        )
        for row in session.execute(charge_stmt):
            charges[str(row[0])] = tuple(row)
    refund_conditions: list[Any] = [in_window] if window else []
    for chunk in _chunks(list(refs)):
        refund_conditions.append(
            or_(PaymentAttempt.gateway_reference.in_(chunk), Refund.id.in_(chunk))
        )
    for cond in refund_conditions:
        refund_stmt = (
            select(
                Refund.id,
                LedgerTransfer.amount,
                LedgerTransfer.currency,
                LedgerTransfer.created,
                PaymentAttempt.gateway_reference,
            )
            .join(
                Refund,
                and_(
                    Refund.id == LedgerTransfer.source,
                    Refund.merchant_id == LedgerTransfer.merchant_id,
                ),
            )
            .join(
                PaymentIntent,
                and_(
                    PaymentIntent.id == Refund.payment_intent_id,
                    PaymentIntent.merchant_id == Refund.merchant_id,
                ),
            )
            .outerjoin(
                PaymentAttempt,
                and_(
                    PaymentAttempt.refund_id == Refund.id,
                    PaymentAttempt.merchant_id == Refund.merchant_id,
                    PaymentAttempt.kind == "refund",
                    PaymentAttempt.status == "succeeded",
                ),
            )
            .where(
                LedgerTransfer.merchant_id == merchant_id,
                LedgerTransfer.code == CODE_REFUND,
                LedgerTransfer.kind == KIND_POST,
                PaymentIntent.connector_account_id == account_id,
                cond,
            )
        )
        for row in session.execute(refund_stmt):
            refunds[row[0]] = tuple(row)
    fees = _fees(session, merchant_id, list(charges))
    items = [
        Item(pi, CHARGE, ref, amount, fees.get(pi, 0), cur, created)
        for pi, amount, cur, created, ref in charges.values()
    ]
    items.extend(
        Item(re, REFUND, ref, -amount, None, cur, created)
        for re, amount, cur, created, ref in refunds.values()
    )
    return items


def _fees(session: Session, merchant_id: str, sources: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(sources):
        stmt = (
            select(LedgerTransfer.source, func.sum(LedgerTransfer.amount))
            .where(
                LedgerTransfer.merchant_id == merchant_id,
                LedgerTransfer.code == CODE_FEE,
                LedgerTransfer.source.in_(chunk),
            )
            .group_by(LedgerTransfer.source)
        )
        for source, total in session.execute(stmt):
            out[str(source)] = int(total)
    return out


def paired_elsewhere(
    session: Session, merchant_id: str, account_id: str, day: str, object_ids: Iterable[str]
) -> set[str]:
    """Objects the live (not superseded) run of another day already paired with a line."""
    ids = list(object_ids)
    out: set[str] = set()
    for chunk in _chunks(ids):
        stmt = (
            select(ReconMatch.object_id)
            .join(ReconRun, ReconRun.id == ReconMatch.run_id)
            .where(
                ReconMatch.merchant_id == merchant_id,
                ReconMatch.connector_account_id == account_id,
                ReconMatch.object_id.in_(chunk),
                ReconRun.merchant_id == merchant_id,
                ReconRun.superseded.is_(False),
                ReconRun.day != day,
            )
        )
        out.update(session.scalars(stmt))
    return out


def insert_matches(session: Session, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 5000):
        session.execute(insert(ReconMatch), rows[i : i + 5000])


# ------------------------------------------------------------------ runs


def supersede_runs(session: Session, merchant_id: str, account_id: str, day: str) -> None:
    session.execute(
        update(ReconRun)
        .where(
            ReconRun.merchant_id == merchant_id,
            ReconRun.connector_account_id == account_id,
            ReconRun.day == day,
            ReconRun.superseded.is_(False),
        )
        .values(superseded=True)
    )


def get_run(session: Session, merchant_id: str, run_id: str) -> ReconRun | None:
    stmt = select(ReconRun).where(ReconRun.merchant_id == merchant_id, ReconRun.id == run_id)
    return session.scalars(stmt).first()


def list_runs(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    connector_account: str | None = None,
    day: str | None = None,
) -> Page[ReconRun]:
    conds: list[Any] = []
    if connector_account:
        conds.append(ReconRun.connector_account_id == connector_account)
    if day:
        conds.append(ReconRun.day == day)
    return paginate(session, ReconRun, merchant_id, page, conds, noun="reconciliation run")


# ------------------------------------------------------------------ exceptions


def exceptions_by_fingerprint(
    session: Session, merchant_id: str, account_id: str, fingerprints: Sequence[str]
) -> dict[str, ReconException]:
    out: dict[str, ReconException] = {}
    for chunk in _chunks(fingerprints):
        stmt = select(ReconException).where(
            ReconException.merchant_id == merchant_id,
            ReconException.connector_account_id == account_id,
            ReconException.fingerprint.in_(chunk),
        )
        out.update((e.fingerprint, e) for e in session.scalars(stmt))
    return out


def open_exceptions_of_day(
    session: Session, merchant_id: str, account_id: str, day: str
) -> list[ReconException]:
    stmt = select(ReconException).where(
        ReconException.merchant_id == merchant_id,
        ReconException.connector_account_id == account_id,
        ReconException.day == day,
        ReconException.status == "open",
    )
    return list(session.scalars(stmt))


def count_open(session: Session, merchant_id: str, account_id: str, day: str) -> int:
    stmt = select(func.count()).where(
        ReconException.merchant_id == merchant_id,
        ReconException.connector_account_id == account_id,
        ReconException.day == day,
        ReconException.status == "open",
    )
    return int(session.scalar(stmt) or 0)


def get_exception(session: Session, merchant_id: str, exc_id: str) -> ReconException | None:
    stmt = select(ReconException).where(
        ReconException.merchant_id == merchant_id, ReconException.id == exc_id
    )
    return session.scalars(stmt).first()


def lock_exception(
    session: Session, dialect: str, merchant_id: str, exc_id: str
) -> ReconException | None:
    stmt = select(ReconException).where(
        ReconException.merchant_id == merchant_id, ReconException.id == exc_id
    )
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def list_exceptions(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    status: str | None = None,
    outcome: str | None = None,
    connector_account: str | None = None,
    day: str | None = None,
) -> Page[ReconException]:
    conds: list[Any] = []
    if status:
        conds.append(ReconException.status == status)
    if outcome:
        conds.append(ReconException.outcome == outcome)
    if connector_account:
        conds.append(ReconException.connector_account_id == connector_account)
    if day:
        conds.append(ReconException.day == day)
    return paginate(
        session, ReconException, merchant_id, page, conds, noun="reconciliation exception"
    )


def accounts_with_lines(session: Session, day: str) -> list[tuple[str, str]]:
    """(merchant, connector account) of every account with report lines on ``day``."""
    stmt = (
        select(ReportLine.merchant_id, ReportLine.connector_account_id)
        .where(ReportLine.day == day)
        .distinct()
        .order_by(ReportLine.merchant_id, ReportLine.connector_account_id)
    )
    return [(m, a) for m, a in session.execute(stmt)]


def has_completed_run(session: Session, merchant_id: str, account_id: str, day: str) -> bool:
    stmt = select(ReconRun.id).where(
        ReconRun.merchant_id == merchant_id,
        ReconRun.connector_account_id == account_id,
        ReconRun.day == day,
        ReconRun.status == "completed",
        ReconRun.superseded.is_(False),
    )
    return session.scalar(stmt.limit(1)) is not None


def serialize(session: Session, dialect: str, *key: str) -> None:
    """One writer at a time for ``key`` until the transaction ends (PostgreSQL: an advisory
    transaction lock; SQLite has one writer anyway)."""
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 25))"), {"k": "|".join(key)}
        )


# ------------------------------------------------------------------ Adyen's announced reports


def announced_reports(session: Session, connector: str, event: str, since: datetime) -> list[Any]:
    """Verified gateway notifications of type ``event`` received since ``since`` (Adyen's
    ``REPORT_AVAILABLE``), oldest first: (merchant, payload, received_at)."""
    stmt = (
        select(InboundEvent.merchant_id, InboundEvent.payload, InboundEvent.received_at)
        .where(
            InboundEvent.connector == connector,
            InboundEvent.type == event,
            InboundEvent.received_at >= since,
        )
        .order_by(InboundEvent.seq)
    )
    return list(session.execute(stmt))


def merchant_accounts_of(session: Session, merchant_id: str, connector: str) -> list[Any]:
    stmt = (
        select(ConnectorAccount)
        .where(
            ConnectorAccount.merchant_id == merchant_id,
            ConnectorAccount.connector == connector,
            ConnectorAccount.status == "enabled",
        )
        .order_by(ConnectorAccount.seq)
    )
    return list(session.scalars(stmt))


def imported_filenames(
    session: Session, merchant_id: str, account_id: str, names: list[str]
) -> set[str]:
    stmt = select(ReportImport.filename).where(
        ReportImport.merchant_id == merchant_id,
        ReportImport.connector_account_id == account_id,
        ReportImport.filename.in_(names),
    )
    return {n for n in session.scalars(stmt) if n}
