"""Find a data subject across the merchant's data: every table of the registry.

A subject is named by a customer id or an email (or both). From the customers found, their
emails widen the search (payment methods' billing email, payments' receipt email); every id
found (customers, payment methods, payments, refunds, disputes) then finds the copies: events
(and the webhook deliveries of them), inbound gateway events, cached API responses, audit
entries, bank accounts. The email is used in memory only; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from strongbox.audit.models import AuditEntry
from strongbox.banking.models import BankAccountRow, BankSession, BankTransactionRow
from strongbox.events.models import OutboxEvent
from strongbox.idempotency.models import IdempotencyKey
from strongbox.payments.models import Customer, Dispute, PaymentIntent, PaymentMethod, Refund
from strongbox.privacy import repository as repo
from strongbox.vault.models import SubjectKey
from strongbox.webhooks.models import InboundEvent, WebhookDelivery

# Personal values shorter than this are not searched for as text (too many false hits).
MIN_NEEDLE = 4


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class SubjectQuery:
    customer_id: str | None = None
    email: str | None = None  # normalized; never stored

    def __repr__(self) -> str:  # the email is personal data: never in logs
        return (
            f"SubjectQuery(customer_id={self.customer_id!r}, email={'…' if self.email else None})"
        )


@dataclass(slots=True)
class Found:
    customers: list[Customer] = field(default_factory=list)
    payment_methods: list[PaymentMethod] = field(default_factory=list)
    payment_intents: list[PaymentIntent] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)
    events: list[OutboxEvent] = field(default_factory=list)
    webhook_deliveries: list[WebhookDelivery] = field(default_factory=list)
    inbound_events: list[InboundEvent] = field(default_factory=list)
    idempotency_keys: list[IdempotencyKey] = field(default_factory=list)
    audit_entries: list[AuditEntry] = field(default_factory=list)
    bank_accounts: list[BankAccountRow] = field(default_factory=list)
    bank_sessions: list[BankSession] = field(default_factory=list)
    bank_transactions: list[BankTransactionRow] = field(default_factory=list)
    subject_keys: list[SubjectKey] = field(default_factory=list)
    vault_cards: int = 0
    # Personal values seen (emails, names, phones, address lines): searched for by verify.
    needles: set[str] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"Found({self.counts()!r})"

    def object_ids(self) -> list[str]:
        """The subject's own objects (ids the audit log and events refer to)."""
        rows: list[Any] = [
            *self.customers,
            *self.payment_methods,
            *self.payment_intents,
            *self.refunds,
            *self.disputes,
        ]
        return [r.id for r in rows]

    def ids(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in (
            "customers",
            "payment_methods",
            "payment_intents",
            "refunds",
            "disputes",
            "events",
            "webhook_deliveries",
            "inbound_events",
            "idempotency_keys",
            "audit_entries",
            "bank_accounts",
            "bank_sessions",
            "bank_transactions",
        ):
            out[name] = [r.id for r in getattr(self, name)]
        return out

    def counts(self) -> dict[str, int]:
        counts = {name: len(ids) for name, ids in self.ids().items()}
        counts["vault_subject_keys"] = len(self.subject_keys)
        counts["vault_cards"] = self.vault_cards
        return counts

    def total(self) -> int:
        return sum(self.counts().values())


def _add_needles(found: Found, value: Any) -> None:
    if isinstance(value, str):
        if len(value.strip()) >= MIN_NEEDLE:
            found.needles.add(value.strip().lower())
    elif isinstance(value, dict):
        for v in value.values():
            _add_needles(found, v)
    elif isinstance(value, list):
        for v in value:
            _add_needles(found, v)


def _billing_email(pm: PaymentMethod) -> str | None:
    email = (pm.billing_details or {}).get("email")
    return normalize_email(email) if isinstance(email, str) and email else None


def locate(
    session: Session, merchant_id: str, query: SubjectQuery, email_index: str | None
) -> Found:
    """Every record of the merchant that holds or refers to the subject's personal data."""
    found = Found()
    customers: dict[str, Customer] = {}
    if query.customer_id:
        for c in repo.customers_by_ids(session, merchant_id, [query.customer_id]):
            customers[c.id] = c
    emails: set[str] = set()
    if query.email:
        emails.add(query.email)
        if email_index is not None:
            for c in repo.customers_by_email(session, merchant_id, email_index, query.email):
                customers[c.id] = c
    found.customers = list(customers.values())
    for c in found.customers:
        pii = c.pii_data()
        _add_needles(found, pii)
        if isinstance(pii.get("email"), str) and pii["email"]:
            emails.add(normalize_email(pii["email"]))
    pms: dict[str, PaymentMethod] = {
        pm.id: pm for pm in repo.payment_methods_of(session, merchant_id, customers)
    }
    for email in emails:
        for pm in repo.payment_methods_mentioning(session, merchant_id, email):
            if _billing_email(pm) == email:
                pms[pm.id] = pm
    found.payment_methods = list(pms.values())
    for pm in found.payment_methods:
        _add_needles(found, pm.billing_details)
        if (e := _billing_email(pm)) is not None:
            emails.add(e)
    intents: dict[str, PaymentIntent] = {}
    email_list: list[str | None] = [*emails] if emails else [None]
    for receipt in email_list:
        for pi in repo.intents_of(session, merchant_id, customers, pms, receipt):
            intents[pi.id] = pi
    found.payment_intents = list(intents.values())
    found.needles.update(emails)
    found.refunds = repo.refunds_of(session, merchant_id, intents)
    found.disputes = repo.disputes_of(session, merchant_id, intents)
    object_ids = found.object_ids()
    found.events = repo.events_of(session, merchant_id, object_ids)
    found.webhook_deliveries = repo.deliveries_of(
        session, merchant_id, (e.id for e in found.events)
    )
    gateway_refs = [pi.gateway_reference for pi in found.payment_intents if pi.gateway_reference]
    found.inbound_events = repo.inbound_mentioning(
        session, merchant_id, [*object_ids, *gateway_refs, *emails]
    )
    found.idempotency_keys = repo.idempotency_mentioning(session, merchant_id, object_ids)
    found.audit_entries = repo.audit_entries_of(session, merchant_id, object_ids)
    found.bank_accounts = repo.bank_accounts_of(session, merchant_id, customers)
    found.bank_sessions = repo.bank_sessions_of(session, merchant_id, customers)
    found.bank_transactions = repo.bank_transactions_of(
        session, merchant_id, (a.id for a in found.bank_accounts)
    )
    for account in found.bank_accounts:
        _add_needles(found, account.ownership)
    found.subject_keys = repo.subject_keys_of(session, merchant_id, customers)
    found.vault_cards = repo.count_vault_cards(session, merchant_id, pms)
    return found


def complete(session: Session, merchant_id: str, found: Found) -> Found:
    """Fill the personal values, subject keys and card count of rows loaded by id (an
    erasure re-applied to a restored database, whose rows still hold the values)."""
    for c in found.customers:
        _add_needles(found, c.pii_data())
    for pm in found.payment_methods:
        _add_needles(found, pm.billing_details)
    for pi in found.payment_intents:
        if pi.receipt_email:
            found.needles.add(normalize_email(pi.receipt_email))
    for account in found.bank_accounts:
        _add_needles(found, account.ownership)
    customer_ids = [c.id for c in found.customers]
    found.subject_keys = repo.subject_keys_of(session, merchant_id, customer_ids)
    found.vault_cards = repo.count_vault_cards(
        session, merchant_id, [pm.id for pm in found.payment_methods]
    )
    return found
