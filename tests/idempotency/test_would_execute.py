"""``idempotency.service.would_execute``: the lock-free look a request takes before a gateway
read outside its transaction (a gateway token's describe), agreeing with ``begin``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from strongbox.core.errors import IdempotencyKeyInUseError
from strongbox.idempotency import service as idem
from strongbox.runtime import Runtime
from support import Merchant

LOCK = timedelta(seconds=60)


def start(runtime: Runtime, merchant: Merchant, key: str) -> str:
    with runtime.db.unit_of_work() as uow:
        begun = idem.begin(
            uow,
            merchant_id=merchant.id,
            key=key,
            method="POST",
            path="/v1/payment_methods",
            request_fingerprint="fp",
            request_id=None,
            lock_timeout=LOCK,
        )
        uow.commit()
    assert begun.record_id is not None
    return begun.record_id


def would(runtime: Runtime, merchant: Merchant, key: str, later: timedelta) -> bool:
    with runtime.db.reader() as uow:
        now = uow.clock.now() + later
        return idem.would_execute(uow.session, merchant.id, key, now, LOCK)


def test_a_new_key_executes(runtime: Runtime, merchant: Merchant) -> None:
    assert would(runtime, merchant, "k-new", timedelta(0))


def test_a_running_request_owns_its_key_until_its_lock_expires(
    runtime: Runtime, merchant: Merchant
) -> None:
    start(runtime, merchant, "k-started")
    assert not would(runtime, merchant, "k-started", timedelta(0))
    with runtime.db.unit_of_work() as uow, pytest.raises(IdempotencyKeyInUseError):
        idem.begin(
            uow,
            merchant_id=merchant.id,
            key="k-started",
            method="POST",
            path="/v1/payment_methods",
            request_fingerprint="fp",
            request_id=None,
            lock_timeout=LOCK,
        )
    # Died before committing anything but the key: after the lock, it runs again.
    assert would(runtime, merchant, "k-started", LOCK + timedelta(seconds=1))


def test_a_key_that_may_have_reached_a_gateway_never_executes_again(
    runtime: Runtime, merchant: Merchant
) -> None:
    record = start(runtime, merchant, "k-attempt")
    with runtime.db.unit_of_work() as uow:
        idem.mark_attempt_created(uow, record)
        uow.commit()
    assert not would(runtime, merchant, "k-attempt", timedelta(0))
    assert not would(runtime, merchant, "k-attempt", timedelta(days=1))


def test_a_stored_response_is_replayed_not_executed(runtime: Runtime, merchant: Merchant) -> None:
    record = start(runtime, merchant, "k-done")
    with runtime.db.unit_of_work() as uow:
        idem.store_response(uow, record, 200, b"{}")
        uow.commit()
    assert not would(runtime, merchant, "k-done", timedelta(days=1))
