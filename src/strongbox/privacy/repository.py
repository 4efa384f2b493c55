"""All queries of the privacy domain: the subject's rows in every registered table, and the
privacy requests themselves. Every query filters by ``merchant_id``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from strongbox.audit.models import AuditEntry
from strongbox.banking.models import BankAccountRow, BankSession, BankTransactionRow
from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.events.models import OutboxEvent
from strongbox.idempotency.models import IdempotencyKey
from strongbox.payments.models import (
    Customer,
    Dispute,
    PaymentIntent,
    PaymentMethod,
    Refund,
)
from strongbox.privacy.models import PrivacyRequest
from strongbox.vault.models import SubjectKey, VaultCard, VaultCvc
from strongbox.webhooks.models import InboundEvent, WebhookDelivery


def _some(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def customers_by_ids(session: Session, merchant_id: str, ids: Iterable[str]) -> list[Customer]:
    wanted = _some(ids)
    if not wanted:
        return []
    stmt = select(Customer).where(Customer.merchant_id == merchant_id, Customer.id.in_(wanted))
    return list(session.scalars(stmt.order_by(Customer.seq)))


def customers_by_email(
    session: Session, merchant_id: str, email_index: str, email: str
) -> list[Customer]:
    stmt = select(Customer).where(
        Customer.merchant_id == merchant_id,
        or_(Customer.email_index == email_index, func.lower(Customer.legacy_email) == email),
    )
    return list(session.scalars(stmt.order_by(Customer.seq)))


def payment_methods_of(
    session: Session, merchant_id: str, customer_ids: Iterable[str]
) -> list[PaymentMethod]:
    wanted = _some(customer_ids)
    if not wanted:
        return []
    stmt = select(PaymentMethod).where(
        PaymentMethod.merchant_id == merchant_id, PaymentMethod.customer_id.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(PaymentMethod.seq)))


def payment_methods_mentioning(
    session: Session, merchant_id: str, needle: str
) -> list[PaymentMethod]:
    """Payment methods whose billing details contain ``needle`` (case-insensitive, as text);
    the caller checks the exact field."""
    text = func.lower(cast(PaymentMethod.billing_details, Text))
    stmt = select(PaymentMethod).where(
        PaymentMethod.merchant_id == merchant_id, text.contains(needle, autoescape=True)
    )
    return list(session.scalars(stmt.order_by(PaymentMethod.seq)))


def intents_of(
    session: Session,
    merchant_id: str,
    customer_ids: Iterable[str],
    payment_method_ids: Iterable[str],
    email: str | None,
) -> list[PaymentIntent]:
    conds: list[Any] = []
    if customers := _some(customer_ids):
        conds.append(PaymentIntent.customer_id.in_(customers))
    if pms := _some(payment_method_ids):
        conds.append(PaymentIntent.payment_method_id.in_(pms))
    if email:
        conds.append(func.lower(PaymentIntent.receipt_email) == email)
    if not conds:
        return []
    stmt = select(PaymentIntent).where(PaymentIntent.merchant_id == merchant_id, or_(*conds))
    return list(session.scalars(stmt.order_by(PaymentIntent.seq)))


def refunds_of(session: Session, merchant_id: str, intent_ids: Iterable[str]) -> list[Refund]:
    wanted = _some(intent_ids)
    if not wanted:
        return []
    stmt = select(Refund).where(
        Refund.merchant_id == merchant_id, Refund.payment_intent_id.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(Refund.seq)))


def disputes_of(session: Session, merchant_id: str, intent_ids: Iterable[str]) -> list[Dispute]:
    wanted = _some(intent_ids)
    if not wanted:
        return []
    stmt = select(Dispute).where(
        Dispute.merchant_id == merchant_id, Dispute.payment_intent_id.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(Dispute.seq)))


def events_of(session: Session, merchant_id: str, resource_ids: Iterable[str]) -> list[OutboxEvent]:
    wanted = _some(resource_ids)
    if not wanted:
        return []
    stmt = select(OutboxEvent).where(
        OutboxEvent.merchant_id == merchant_id, OutboxEvent.resource_id.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(OutboxEvent.seq)))


def deliveries_of(
    session: Session, merchant_id: str, event_ids: Iterable[str]
) -> list[WebhookDelivery]:
    wanted = _some(event_ids)
    if not wanted:
        return []
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.merchant_id == merchant_id, WebhookDelivery.event_id.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(WebhookDelivery.seq)))


def inbound_mentioning(
    session: Session, merchant_id: str, needles: Iterable[str]
) -> list[InboundEvent]:
    wanted = _some(n.lower() for n in needles if n)
    if not wanted:
        return []
    text = func.lower(cast(InboundEvent.payload, Text))
    stmt = select(InboundEvent).where(
        InboundEvent.merchant_id == merchant_id,
        or_(*(text.contains(n, autoescape=True) for n in wanted)),
    )
    return list(session.scalars(stmt.order_by(InboundEvent.seq)))


def idempotency_mentioning(
    session: Session, merchant_id: str, needles: Iterable[str]
) -> list[IdempotencyKey]:
    wanted = _some(n for n in needles if n)
    if not wanted:
        return []
    stmt = select(IdempotencyKey).where(
        IdempotencyKey.merchant_id == merchant_id,
        or_(*(IdempotencyKey.response_body.contains(n, autoescape=True) for n in wanted)),
    )
    return list(session.scalars(stmt.order_by(IdempotencyKey.seq)))


def audit_entries_of(
    session: Session, merchant_id: str, resource_ids: Iterable[str]
) -> list[AuditEntry]:
    wanted = _some(resource_ids)
    if not wanted:
        return []
    stmt = select(AuditEntry).where(
        AuditEntry.merchant_id == merchant_id, AuditEntry.resource_id.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(AuditEntry.seq)))


def bank_accounts_of(
    session: Session, merchant_id: str, customer_ids: Iterable[str]
) -> list[BankAccountRow]:
    wanted = set(customer_ids)
    if not wanted:
        return []
    stmt = select(BankAccountRow).where(BankAccountRow.merchant_id == merchant_id)
    return [
        row
        for row in session.scalars(stmt.order_by(BankAccountRow.seq))
        if (row.account_holder or {}).get("customer") in wanted
    ]


def bank_sessions_of(
    session: Session, merchant_id: str, customer_ids: Iterable[str]
) -> list[BankSession]:
    wanted = set(customer_ids)
    if not wanted:
        return []
    stmt = select(BankSession).where(BankSession.merchant_id == merchant_id)
    return [
        row
        for row in session.scalars(stmt.order_by(BankSession.seq))
        if (row.account_holder or {}).get("customer") in wanted
    ]


def bank_transactions_of(
    session: Session, merchant_id: str, account_ids: Iterable[str]
) -> list[BankTransactionRow]:
    wanted = _some(account_ids)
    if not wanted:
        return []
    stmt = select(BankTransactionRow).where(
        BankTransactionRow.merchant_id == merchant_id, BankTransactionRow.account_id.in_(wanted)
    )
    return list(session.scalars(stmt.order_by(BankTransactionRow.seq)))


def subject_keys_of(
    session: Session, merchant_id: str, customer_ids: Iterable[str]
) -> list[SubjectKey]:
    wanted = _some(customer_ids)
    if not wanted:
        return []
    stmt = select(SubjectKey).where(
        SubjectKey.merchant_id == merchant_id, SubjectKey.subject_id.in_(wanted)
    )
    return list(session.scalars(stmt))


def count_vault_cards(session: Session, merchant_id: str, pm_ids: Iterable[str]) -> int:
    wanted = _some(pm_ids)
    if not wanted:
        return 0
    stmt = select(func.count()).where(
        VaultCard.merchant_id == merchant_id, VaultCard.payment_method_id.in_(wanted)
    )
    return int(session.scalar(stmt) or 0)


def delete_vault_records(session: Session, merchant_id: str, pm_ids: Iterable[str]) -> int:
    """Delete the PAN and CVC ciphertexts of the subject's payment methods."""
    wanted = _some(pm_ids)
    if not wanted:
        return 0
    n = 0
    for model in (VaultCard, VaultCvc):
        res = session.execute(
            delete(model).where(
                model.merchant_id == merchant_id, model.payment_method_id.in_(wanted)
            )
        )
        n += int(getattr(res, "rowcount", 0) or 0)
    return n


# ------------------------------------------------------------------ privacy requests


def get_request(session: Session, merchant_id: str, request_id: str) -> PrivacyRequest | None:
    stmt = select(PrivacyRequest).where(
        PrivacyRequest.merchant_id == merchant_id, PrivacyRequest.id == request_id
    )
    return session.scalars(stmt).first()


def list_requests(session: Session, merchant_id: str, page: PageRequest) -> Page[PrivacyRequest]:
    return paginate(session, PrivacyRequest, merchant_id, page)


def all_requests(session: Session, merchant_id: str) -> Sequence[PrivacyRequest]:
    stmt = select(PrivacyRequest).where(PrivacyRequest.merchant_id == merchant_id)
    return session.scalars(stmt.order_by(PrivacyRequest.seq)).all()


_MODELS: dict[str, Any] = {
    "customers": Customer,
    "payment_methods": PaymentMethod,
    "payment_intents": PaymentIntent,
    "refunds": Refund,
    "disputes": Dispute,
    "events": OutboxEvent,
    "webhook_deliveries": WebhookDelivery,
    "inbound_events": InboundEvent,
    "idempotency_keys": IdempotencyKey,
    "audit_entries": AuditEntry,
    "bank_accounts": BankAccountRow,
    "bank_sessions": BankSession,
    "bank_transactions": BankTransactionRow,
}


def rows_by_ids(session: Session, name: str, merchant_id: str, ids: Iterable[str]) -> list[Any]:
    """The merchant's rows of one of the subject's tables (``Found`` field ``name``) by id."""
    model = _MODELS[name]
    wanted = _some(ids)
    if not wanted:
        return []
    stmt = select(model).where(model.merchant_id == merchant_id, model.id.in_(wanted))
    return list(session.scalars(stmt.order_by(model.seq)))
