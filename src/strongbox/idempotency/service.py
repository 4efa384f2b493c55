"""Stripe's idempotency semantics, implemented with recovery points.

* A key (≤ 255 chars) is scoped by merchant. The first request to use it takes a lock and
  records a fingerprint of method, path and parameters.
* Once execution begins the response is stored (errors and 500s included) and later requests
  with the key get it back byte-identical, with ``Idempotent-Replayed: true``.
* Same key, different parameters → 400 ``idempotency_error``.
* Same key while the first request still runs → 409 ``idempotency_key_in_use``.
* Requests that fail parameter validation are rejected before a key is taken: not stored.
* Recovery points: ``started`` → ``attempt_created`` (a gateway call may be in flight) →
  ``finished``. A key whose lock expired at ``started`` may be re-executed (nothing was
  committed); one at ``attempt_created`` waits for the recovery worker, which stores the
  final response.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from strongbox.core.errors import IdempotencyError, IdempotencyKeyInUseError, InvalidRequestError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.idempotency import repository as repo

MAX_KEY_LENGTH = 255
STARTED = "started"
ATTEMPT_CREATED = "attempt_created"
FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Begun:
    """Either a lock on a new (or recoverable) key, or the stored response to replay."""

    record_id: str | None = None
    replay: StoredResponse | None = None


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    canonical = orjson.dumps([method.upper(), path, params], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequestError(
            f"Idempotency-Key must be between 1 and {MAX_KEY_LENGTH} characters long.",
            code="idempotency_key_invalid",
            param="Idempotency-Key",
        )


def begin(
    uow: UnitOfWork,
    *,
    merchant_id: str,
    key: str,
    method: str,
    path: str,
    request_fingerprint: str,
    request_id: str | None,
    lock_timeout: timedelta,
) -> Begun:
    check_key(key)
    now = uow.clock.now()
    record_id = new_id("idempotency_key")
    inserted = repo.insert_if_absent(
        uow,
        {
            "id": record_id,
            "merchant_id": merchant_id,
            "key": key,
            "request_method": method.upper(),
            "request_path": path,
            "request_fingerprint": request_fingerprint,
            "recovery_point": STARTED,
            "locked_at": now,
            "response_status": None,
            "response_body": None,
            "request_id": request_id,
            "created": now,
            "last_used_at": now,
        },
    )
    if inserted:
        return Begun(record_id=record_id)
    row = repo.get_locked(uow.session, merchant_id, key)
    if row is None:  # pruned between the two statements: treat as in use, client retries
        raise IdempotencyKeyInUseError(_in_use_message(key))
    if (
        row.request_fingerprint != request_fingerprint
        or row.request_method != method.upper()
        or row.request_path != path
    ):
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
        )
    if row.response_status is not None and row.response_body is not None:
        row.last_used_at = now
        return Begun(
            replay=StoredResponse(
                status=row.response_status,
                body=row.response_body.encode("utf-8"),
                request_id=row.request_id,
            )
        )
    if _may_run_again(row.recovery_point, row.locked_at, now, lock_timeout):
        # The first request died before committing anything beyond the key: run it again.
        row.locked_at = now
        row.last_used_at = now
        row.request_id = request_id
        return Begun(record_id=row.id)
    raise IdempotencyKeyInUseError(_in_use_message(key))


def would_execute(
    session: Session, merchant_id: str, key: str, now: datetime, lock_timeout: timedelta
) -> bool:
    """Whether ``begin`` would let a request with this key execute (a read, no lock): the key
    is new, or its first request died before committing anything (``started``, lock expired).
    False when a response is stored (replayed) or the first request owns the key or may have
    reached a gateway (409 until it is resolved).

    For requests that must call out before their transaction (a gateway token is described by
    its gateway first): only a request that will execute makes that call. ``begin`` still
    decides, under its lock.
    """
    row = repo.peek(session, merchant_id, key)
    return row is None or _may_run_again(row.recovery_point, row.locked_at, now, lock_timeout)


def _may_run_again(
    recovery_point: str, locked_at: datetime | None, now: datetime, lock_timeout: timedelta
) -> bool:
    """A key without a stored response runs again only if its first request died before
    committing anything but the key (``started``, lock expired)."""
    lock_expired = locked_at is None or now - locked_at >= lock_timeout
    return lock_expired and recovery_point == STARTED


def _in_use_message(key: str) -> str:
    return (
        f"There is currently another in-progress request using this Idempotent Key '{key}' "
        "(that probably means you submitted twice, and the other request is still going "
        "through). Please try again later."
    )


def mark_attempt_created(uow: UnitOfWork, record_id: str) -> None:
    repo.set_recovery_point(uow, record_id, ATTEMPT_CREATED)


def store_response(uow: UnitOfWork, record_id: str, status: int, body: bytes) -> None:
    repo.set_response(uow, record_id, FINISHED, status, body.decode("utf-8"), uow.clock.now())


def store_response_if_absent(uow: UnitOfWork, record_id: str, status: int, body: bytes) -> None:
    """Used by the recovery worker: never overwrites a response already stored."""
    row = repo.get_by_id(uow.session, record_id)
    if row is not None and row.response_status is None:
        store_response(uow, record_id, status, body)


def store_new_response(
    uow: UnitOfWork,
    *,
    merchant_id: str,
    key: str,
    method: str,
    path: str,
    request_fingerprint: str,
    request_id: str | None,
    status: int,
    body: bytes,
) -> None:
    """Store the response of a request whose execution failed (its own work rolled back)."""
    now = uow.clock.now()
    inserted = repo.insert_if_absent(
        uow,
        {
            "id": new_id("idempotency_key"),
            "merchant_id": merchant_id,
            "key": key,
            "request_method": method.upper(),
            "request_path": path,
            "request_fingerprint": request_fingerprint,
            "recovery_point": FINISHED,
            "locked_at": None,
            "response_status": status,
            "response_body": body.decode("utf-8"),
            "request_id": request_id,
            "created": now,
            "last_used_at": now,
        },
    )
    if not inserted:
        row = repo.get_locked(uow.session, merchant_id, key)
        if row is not None and row.response_status is None:
            store_response(uow, row.id, status, body)


def reap(uow: UnitOfWork, ttl: timedelta, lock_timeout: timedelta) -> int:
    now = uow.clock.now()
    return repo.delete_expired(uow.session, now - ttl, now - lock_timeout)
