"""The payment path's rows as records (``db/records.py``): intents, attempts and refunds read
and written with prebuilt statements, status history and Stripe's test payment methods
inserted with them. Every query filters by merchant, except the system scans named so
(recovery's, the lease renewal, a 3DS callback's lookup by its unguessable reference).

``repository.py`` keeps the ORM's side: lists (pagination), customers, payment methods,
disputes and the cross-merchant reads of operator checks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select

from strongbox.db import records
from strongbox.db.records import RecordType
from strongbox.db.sql import Sql, one_of
from strongbox.db.uow import UnitOfWork
from strongbox.payments.models import (
    PaymentAttempt,
    PaymentIntent,
    PaymentMethod,
    Refund,
    StatusChange,
)

INTENTS: RecordType[PaymentIntent] = RecordType(PaymentIntent, "payment_intent")
ATTEMPTS: RecordType[PaymentAttempt] = RecordType(PaymentAttempt, "payment_attempt")
REFUNDS: RecordType[Refund] = RecordType(Refund, "refund")
PAYMENT_METHODS: RecordType[PaymentMethod] = RecordType(PaymentMethod, "payment_method")

_A = ATTEMPTS.table.c
_I = INTENTS.table.c

_INTENT = records.where_id(INTENTS, lock=False)
_INTENT_LOCKED = records.where_id(INTENTS, lock=True)
_ATTEMPT = records.where_id(ATTEMPTS, lock=False)
_ATTEMPT_LOCKED = records.where_id(ATTEMPTS, lock=True)
_REFUND = records.where_id(REFUNDS, lock=False)
_REFUND_LOCKED = records.where_id(REFUNDS, lock=True)
_PAYMENT_METHOD = records.where_id(PAYMENT_METHODS, lock=False)

_HISTORY_KEYS = (
    "merchant_id",
    "payment_intent_id",
    "from_status",
    "to_status",
    "cause",
    "attempt_id",
    "request_id",
    "created",
)
_HISTORY = records.Batch(StatusChange.__table__, _HISTORY_KEYS)  # type: ignore[arg-type]


def _one(
    uow: UnitOfWork, rt: RecordType[Any], sql: Sql, params: dict[str, Any], *, lock: bool = False
) -> Any:
    row = uow.fetchone(sql, params)
    return None if row is None else records.load(uow, rt, [row], locked=_locked(uow, lock))[0]


def _all(
    uow: UnitOfWork, rt: RecordType[Any], sql: Sql, params: dict[str, Any], *, lock: bool = False
) -> list[Any]:
    return records.load(uow, rt, uow.fetchall(sql, params), locked=_locked(uow, lock))


def _locked(uow: UnitOfWork, lock: bool) -> bool:
    # SQLite's writer holds the database: whatever a write transaction reads stays as read.
    return lock or (uow.dialect == "sqlite" and not uow.read_only)


# ---- intents


def new_intent(values: dict[str, Any]) -> PaymentIntent:
    return records.new(INTENTS, {"seq": None, "connector_account_id": None, **values})


def add_intent(uow: UnitOfWork, pi: PaymentIntent) -> PaymentIntent:
    return records.add(uow, INTENTS, pi)


def get_intent(
    uow: UnitOfWork, merchant_id: str, intent_id: str, *, lock: bool = False
) -> PaymentIntent | None:
    held = uow.records.get((INTENTS.kind, intent_id))
    if held is not None and not lock:
        obj: PaymentIntent = held[1]
        return obj if obj.merchant_id == merchant_id else None
    sql = _INTENT_LOCKED if lock else _INTENT
    params = {"m": merchant_id, "id": intent_id}
    found: PaymentIntent | None = _one(uow, INTENTS, sql, params, lock=lock)
    return found


_BY_REFERENCE = Sql(
    INTENTS.select().where(
        _I.merchant_id == bindparam("m"),
        _I.connector == bindparam("c"),
        _I.gateway_reference == bindparam("r"),
    )
)


def intent_by_reference(
    uow: UnitOfWork, merchant_id: str, connector: str, reference: str
) -> PaymentIntent | None:
    """The payment a gateway reference belongs to: the intent's own, or an attempt's."""
    params = {"m": merchant_id, "c": connector, "r": reference}
    found: PaymentIntent | None = _one(uow, INTENTS, _BY_REFERENCE, params)
    if found is not None:
        return found
    attempt: PaymentAttempt | None = _one(uow, ATTEMPTS, _ATTEMPT_BY_REFERENCE, params)
    if attempt is None:
        return None
    return get_intent(uow, merchant_id, attempt.payment_intent_id)


# ---- attempts


def new_attempt(values: dict[str, Any]) -> PaymentAttempt:
    defaults = {"seq": None, "routing": None, "late_outcome": None, "reverses": None}
    return records.new(ATTEMPTS, {**defaults, **values})


def add_attempt(uow: UnitOfWork, attempt: PaymentAttempt) -> PaymentAttempt:
    return records.add(uow, ATTEMPTS, attempt)


def get_attempt(
    uow: UnitOfWork, merchant_id: str, attempt_id: str, *, lock: bool = False
) -> PaymentAttempt | None:
    sql = _ATTEMPT_LOCKED if lock else _ATTEMPT
    params = {"m": merchant_id, "id": attempt_id}
    found: PaymentAttempt | None = _one(uow, ATTEMPTS, sql, params, lock=lock)
    return found


_OPEN_FOR = Sql(
    ATTEMPTS.select()
    .where(
        _A.merchant_id == bindparam("m"),
        _A.payment_intent_id == bindparam("pi"),
        _A.kind == bindparam("kind"),
        _A.status == bindparam("status"),
    )
    .order_by(_A.seq.desc())
    .limit(1)
)


def open_attempt_for(
    uow: UnitOfWork, merchant_id: str, intent_id: str, kind: str, status: str
) -> PaymentAttempt | None:
    params = {"m": merchant_id, "pi": intent_id, "kind": kind, "status": status}
    found: PaymentAttempt | None = _one(uow, ATTEMPTS, _OPEN_FOR, params)
    return found


_FOR_INTENT = Sql(
    ATTEMPTS.select()
    .where(_A.merchant_id == bindparam("m"), _A.payment_intent_id == bindparam("pi"))
    .order_by(_A.seq)
)


def attempts_for_intent(uow: UnitOfWork, merchant_id: str, intent_id: str) -> list[PaymentAttempt]:
    return _all(uow, ATTEMPTS, _FOR_INTENT, {"m": merchant_id, "pi": intent_id})


_BY_CHARGE = Sql(
    ATTEMPTS.select()
    .where(_A.merchant_id == bindparam("m"), _A.charge_id == bindparam("charge"))
    .order_by(_A.seq)
    .limit(1)
)


def find_attempt_by_charge(
    uow: UnitOfWork, merchant_id: str, charge_id: str
) -> PaymentAttempt | None:
    found: PaymentAttempt | None = _one(
        uow, ATTEMPTS, _BY_CHARGE, {"m": merchant_id, "charge": charge_id}
    )
    return found


_UNFINISHED: dict[tuple[tuple[str, ...], bool, bool], Sql] = {}


def _unfinished(statuses: tuple[str, ...], leased: bool, after: bool) -> Sql:
    key = (statuses, leased, after)
    found = _UNFINISHED.get(key)
    if found is None:
        conds = [one_of(_A.status, statuses, "status"), _A.updated < bindparam("o")]
        if leased:
            conds.append(or_(_A.lease_until.is_(None), _A.lease_until < bindparam("now")))
        if after:
            conds.append(_A.created > bindparam("after"))
        stmt = ATTEMPTS.select().where(*conds).order_by(_A.updated).limit(bindparam("n"))
        found = _UNFINISHED.setdefault(key, Sql(stmt.with_for_update(skip_locked=True)))
    return found


def unfinished_attempts(
    uow: UnitOfWork,
    *,
    older_than: datetime,
    statuses: tuple[str, ...],
    limit: int,
    created_after: datetime | None = None,
    unleased_at: datetime | None = None,
) -> list[PaymentAttempt]:
    """Attempts whose outcome is not recorded (crash or unknown outcome), oldest first; with
    ``unleased_at``, only those whose lease (a gateway call in flight) ran out by then.

    Across merchants by design: this is the recovery worker's scan, not a tenant query
    (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers in many processes share the work).
    """
    sql = _unfinished(statuses, unleased_at is not None, created_after is not None)
    params = {
        "o": older_than,
        "now": unleased_at,
        "after": created_after,
        "n": limit,
    }
    return _all(uow, ATTEMPTS, sql, params, lock=True)


_BY_ACTION = Sql(ATTEMPTS.select().where(_A.action_reference == bindparam("r")).limit(1))


def attempt_by_action_reference(uow: UnitOfWork, reference: str) -> PaymentAttempt | None:
    """By the gateway's unguessable challenge reference (a system callback, not a tenant
    query)."""
    found: PaymentAttempt | None = _one(uow, ATTEMPTS, _BY_ACTION, {"r": reference})
    return found


_BY_GATEWAY_KEY = Sql(
    ATTEMPTS.select()
    .where(
        _A.merchant_id == bindparam("m"),
        _A.connector == bindparam("c"),
        _A.gateway_idempotency_key == bindparam("k"),
    )
    .with_for_update()
)


def attempt_by_gateway_key(
    uow: UnitOfWork, merchant_id: str, connector: str, key: str
) -> PaymentAttempt | None:
    params = {"m": merchant_id, "c": connector, "k": key}
    found: PaymentAttempt | None = _one(uow, ATTEMPTS, _BY_GATEWAY_KEY, params, lock=True)
    return found


_ATTEMPT_BY_REFERENCE = Sql(
    ATTEMPTS.select()
    .where(
        _A.merchant_id == bindparam("m"),
        _A.connector == bindparam("c"),
        _A.gateway_reference == bindparam("r"),
    )
    .order_by(_A.seq)
    .limit(1)
)
_OPEN_BY_REFERENCE: dict[tuple[str, ...], Sql] = {}


def _open_by_reference(kinds: tuple[str, ...]) -> Sql:
    found = _OPEN_BY_REFERENCE.get(kinds)
    if found is None:
        stmt = (
            ATTEMPTS.select()
            .where(
                _A.merchant_id == bindparam("m"),
                _A.connector == bindparam("c"),
                one_of(_A.kind, kinds, "kind"),
                one_of(_A.status, ("started", "unknown", "requires_action"), "status"),
                (_A.gateway_reference == bindparam("r"))
                | _A.payment_intent_id.in_(
                    select(_I.id).where(
                        _I.merchant_id == bindparam("m"),
                        _I.connector == bindparam("c"),
                        _I.gateway_reference == bindparam("r"),
                    )
                ),
            )
            .order_by(_A.seq)
        )
        found = _OPEN_BY_REFERENCE.setdefault(kinds, Sql(stmt))
    return found


def open_attempts_by_reference(
    uow: UnitOfWork, merchant_id: str, connector: str, reference: str, kinds: tuple[str, ...]
) -> list[PaymentAttempt]:
    """Unfinished attempts on one gateway payment (authorize attempts learn their reference
    from the gateway's answer, so the intent's reference is matched too)."""
    params = {"m": merchant_id, "c": connector, "r": reference}
    return _all(uow, ATTEMPTS, _open_by_reference(kinds), params)


# ---- refunds


def new_refund(values: dict[str, Any]) -> Refund:
    return records.new(REFUNDS, {"seq": None, **values})


def add_refund(uow: UnitOfWork, refund: Refund) -> Refund:
    return records.add(uow, REFUNDS, refund)


def get_refund(
    uow: UnitOfWork, merchant_id: str, refund_id: str, *, lock: bool = False
) -> Refund | None:
    sql = _REFUND_LOCKED if lock else _REFUND
    params = {"m": merchant_id, "id": refund_id}
    found: Refund | None = _one(uow, REFUNDS, sql, params, lock=lock)
    return found


# ---- payment methods


def new_payment_method(values: dict[str, Any]) -> PaymentMethod:
    defaults = {
        "seq": None,
        "customer_id": None,
        "card_cvc_check": None,
        "connector_account_id": None,
        "gateway_token": None,
        "bank_account": None,
    }
    return records.new(PAYMENT_METHODS, {**defaults, **values})


def add_payment_method(uow: UnitOfWork, pm: PaymentMethod) -> PaymentMethod:
    return records.add(uow, PAYMENT_METHODS, pm)


def get_payment_method(uow: UnitOfWork, merchant_id: str, pm_id: str) -> PaymentMethod | None:
    held = uow.records.get((PAYMENT_METHODS.kind, pm_id))
    if held is not None:
        obj: PaymentMethod = held[1]
        return obj if obj.merchant_id == merchant_id else None
    found: PaymentMethod | None = _one(
        uow, PAYMENT_METHODS, _PAYMENT_METHOD, {"m": merchant_id, "id": pm_id}
    )
    return found


# ---- status history (inserted only)


def add_history(uow: UnitOfWork, row: dict[str, Any]) -> None:
    """One status-history row; a unit of work's rows are written in one INSERT."""
    records.append(uow, _HISTORY, row)
