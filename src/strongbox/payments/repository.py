"""All payment queries. Every query filters by merchant, except `every_intent_with_refunds`
(operator checks across merchants, never a request)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from strongbox.db.pagination import Page, PageRequest, paginate
from strongbox.payments.models import (
    Customer,
    Dispute,
    PaymentAttempt,
    PaymentIntent,
    PaymentMethod,
    Refund,
    StatusChange,
)


def _for_update(session: Session, stmt: Any) -> Any:
    # SQLite serializes writers (BEGIN IMMEDIATE); PostgreSQL takes a row lock.
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt


def _by_id(model: Any) -> tuple[Any, Any]:
    """``model`` by merchant and id, without and with ``FOR UPDATE``: built once (building
    a statement costs about as much CPU as running it) and bound per call."""
    stmt = select(model).where(model.merchant_id == bindparam("m"), model.id == bindparam("id"))
    return stmt, stmt.with_for_update()


_INTENT, _INTENT_LOCKED = _by_id(PaymentIntent)
_ATTEMPT, _ATTEMPT_LOCKED = _by_id(PaymentAttempt)
_PAYMENT_METHOD, _ = _by_id(PaymentMethod)


def _locking(session: Session) -> bool:
    # SQLite serializes writers (BEGIN IMMEDIATE); PostgreSQL takes a row lock.
    return session.get_bind().dialect.name == "postgresql"


def get_intent(
    session: Session, merchant_id: str, intent_id: str, *, lock: bool = False
) -> PaymentIntent | None:
    stmt = _INTENT_LOCKED if lock and _locking(session) else _INTENT
    return session.scalars(stmt, {"m": merchant_id, "id": intent_id}).first()


def list_intents(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    customer: str | None = None,
    created: dict[str, int] | None = None,
) -> Page[PaymentIntent]:
    conds = [PaymentIntent.customer_id == customer] if customer else []
    return paginate(session, PaymentIntent, merchant_id, page, conds, created=created)


def get_attempt(
    session: Session, merchant_id: str, attempt_id: str, *, lock: bool = False
) -> PaymentAttempt | None:
    stmt = _ATTEMPT_LOCKED if lock and _locking(session) else _ATTEMPT
    return session.scalars(stmt, {"m": merchant_id, "id": attempt_id}).first()


def open_attempt_for(
    session: Session, merchant_id: str, intent_id: str, kind: str, status: str
) -> PaymentAttempt | None:
    return session.scalars(
        select(PaymentAttempt)
        .where(
            PaymentAttempt.merchant_id == merchant_id,
            PaymentAttempt.payment_intent_id == intent_id,
            PaymentAttempt.kind == kind,
            PaymentAttempt.status == status,
        )
        .order_by(PaymentAttempt.seq.desc())
    ).first()


def attempts_for_intent(session: Session, merchant_id: str, intent_id: str) -> list[PaymentAttempt]:
    return list(
        session.scalars(
            select(PaymentAttempt)
            .where(
                PaymentAttempt.merchant_id == merchant_id,
                PaymentAttempt.payment_intent_id == intent_id,
            )
            .order_by(PaymentAttempt.seq)
        )
    )


def find_attempt_by_charge(
    session: Session, merchant_id: str, charge_id: str
) -> PaymentAttempt | None:
    return session.scalars(
        select(PaymentAttempt).where(
            PaymentAttempt.merchant_id == merchant_id, PaymentAttempt.charge_id == charge_id
        )
    ).first()


def unfinished_attempts(
    session: Session,
    *,
    older_than: datetime,
    statuses: tuple[str, ...],
    limit: int,
    created_after: datetime | None = None,
    unleased_at: datetime | None = None,
) -> list[PaymentAttempt]:
    """Attempts whose outcome is not recorded (crash or unknown outcome), oldest first; with
    ``unleased_at``, only those whose lease (a gateway call in flight) ran out by then.

    Across merchants by design: this is the recovery worker's scan, not a tenant query.
    """
    conds = [PaymentAttempt.status.in_(statuses), PaymentAttempt.updated < older_than]
    if unleased_at is not None:
        conds.append(
            or_(PaymentAttempt.lease_until.is_(None), PaymentAttempt.lease_until < unleased_at)
        )
    if created_after is not None:
        conds.append(PaymentAttempt.created > created_after)
    stmt = select(PaymentAttempt).where(*conds).order_by(PaymentAttempt.updated).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def renew_leases(session: Session, attempt_ids: list[str], until: datetime) -> int:
    """Extend the leases of attempts whose calls this process still has in flight (system
    work across merchants, by unique attempt id). A lease already cleared (the outcome was
    recorded) stays cleared."""
    table: Table = PaymentAttempt.__table__  # type: ignore[assignment]
    result = session.connection().execute(
        update(table)
        .where(table.c.id.in_(attempt_ids), table.c.lease_until.is_not(None))
        .values(lease_until=until)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def attempt_by_action_reference(session: Session, reference: str) -> PaymentAttempt | None:
    """By the gateway's unguessable challenge reference (a system callback, not a tenant query)."""
    return session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.action_reference == reference)
    ).first()


def get_refund(session: Session, merchant_id: str, refund_id: str) -> Refund | None:
    return session.scalars(
        select(Refund).where(Refund.merchant_id == merchant_id, Refund.id == refund_id)
    ).first()


def list_refunds(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    payment_intent: str | None = None,
    created: dict[str, int] | None = None,
) -> Page[Refund]:
    conds = [Refund.payment_intent_id == payment_intent] if payment_intent else []
    return paginate(session, Refund, merchant_id, page, conds, created=created)


def get_customer(
    session: Session, merchant_id: str, customer_id: str, *, include_deleted: bool = False
) -> Customer | None:
    stmt = select(Customer).where(Customer.merchant_id == merchant_id, Customer.id == customer_id)
    if not include_deleted:
        stmt = stmt.where(Customer.deleted_at.is_(None))
    return session.scalars(stmt).first()


def list_customers(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    email: str | None = None,
    email_index: str | None = None,
    created: dict[str, int] | None = None,
) -> Page[Customer]:
    conds: list[Any] = [Customer.deleted_at.is_(None)]
    if email is not None:
        # Encrypted rows match on the blind index; rows from before the vault on plaintext.
        conds.append(or_(Customer.email_index == email_index, Customer.legacy_email == email))
    return paginate(session, Customer, merchant_id, page, conds, created=created)


def get_payment_method(session: Session, merchant_id: str, pm_id: str) -> PaymentMethod | None:
    return session.scalars(_PAYMENT_METHOD, {"m": merchant_id, "id": pm_id}).first()


def list_payment_methods(
    session: Session,
    merchant_id: str,
    page: PageRequest,
    *,
    customer: str | None = None,
    type_: str | None = None,
) -> Page[PaymentMethod]:
    conds: list[Any] = []
    if customer is not None:
        conds.append(PaymentMethod.customer_id == customer)
    if type_ is not None:
        conds.append(PaymentMethod.type == type_)
    return paginate(session, PaymentMethod, merchant_id, page, conds)


def status_history(session: Session, merchant_id: str, intent_id: str) -> list[StatusChange]:
    return list(
        session.scalars(
            select(StatusChange)
            .where(
                StatusChange.merchant_id == merchant_id,
                StatusChange.payment_intent_id == intent_id,
            )
            .order_by(StatusChange.seq)
        )
    )


def attempt_by_gateway_key(
    session: Session, merchant_id: str, connector: str, key: str
) -> PaymentAttempt | None:
    stmt = select(PaymentAttempt).where(
        PaymentAttempt.merchant_id == merchant_id,
        PaymentAttempt.connector == connector,
        PaymentAttempt.gateway_idempotency_key == key,
    )
    return session.scalars(_for_update(session, stmt)).first()


def open_attempts_by_reference(
    session: Session, merchant_id: str, connector: str, reference: str, kinds: tuple[str, ...]
) -> list[PaymentAttempt]:
    """Unfinished attempts on one gateway payment (authorize attempts learn their reference
    from the gateway's answer, so the intent's reference is matched too)."""
    intent_ids = select(PaymentIntent.id).where(
        PaymentIntent.merchant_id == merchant_id,
        PaymentIntent.connector == connector,
        PaymentIntent.gateway_reference == reference,
    )
    stmt = (
        select(PaymentAttempt)
        .where(
            PaymentAttempt.merchant_id == merchant_id,
            PaymentAttempt.connector == connector,
            PaymentAttempt.kind.in_(kinds),
            PaymentAttempt.status.in_(("started", "unknown", "requires_action")),
            (PaymentAttempt.gateway_reference == reference)
            | PaymentAttempt.payment_intent_id.in_(intent_ids),
        )
        .order_by(PaymentAttempt.seq)
    )
    return list(session.scalars(stmt))


def intent_by_reference(
    session: Session, merchant_id: str, connector: str, reference: str
) -> PaymentIntent | None:
    stmt = select(PaymentIntent).where(
        PaymentIntent.merchant_id == merchant_id,
        PaymentIntent.connector == connector,
        PaymentIntent.gateway_reference == reference,
    )
    found = session.scalars(stmt).first()
    if found is not None:
        return found
    attempt = session.scalars(
        select(PaymentAttempt).where(
            PaymentAttempt.merchant_id == merchant_id,
            PaymentAttempt.connector == connector,
            PaymentAttempt.gateway_reference == reference,
        )
    ).first()
    if attempt is None:
        return None
    return get_intent(session, merchant_id, attempt.payment_intent_id)


def get_dispute_by_gateway_id(
    session: Session, merchant_id: str, connector: str, dispute_id: str
) -> Dispute | None:
    return session.scalars(
        select(Dispute).where(
            Dispute.merchant_id == merchant_id,
            Dispute.connector == connector,
            Dispute.gateway_dispute_id == dispute_id,
        )
    ).first()


def every_intent_with_refunds(session: Session) -> Iterator[tuple[PaymentIntent, list[Refund]]]:
    """Every merchant's payment intents in creation order, each with its refunds (in creation
    order). Cross-merchant on purpose: for operator checks such as ``strongbox ledger verify``,
    never for a request."""
    refunds: dict[str, list[Refund]] = {}
    for r in session.scalars(select(Refund).order_by(Refund.seq)):
        refunds.setdefault(r.payment_intent_id, []).append(r)
    for pi in session.scalars(select(PaymentIntent).order_by(PaymentIntent.seq)):
        yield pi, refunds.get(pi.id, [])
