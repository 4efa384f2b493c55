"""Leases: the keeper renews the attempts whose calls are in flight, and only those."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from strongbox.connectors.base import OperationKind
from strongbox.payments.lease import LeaseKeeper
from strongbox.payments.models import PaymentAttempt
from strongbox.payments.steps import GatewayCall
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import Merchant

FORM = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def _attempt(rt: Runtime, pi_id: str) -> PaymentAttempt:
    with rt.db.reader() as uow:
        [a] = uow.session.query(PaymentAttempt).filter_by(payment_intent_id=pi_id).all()
        uow.session.expunge(a)  # loaded: readable after the read-only transaction ends
        return a


def _call(a: PaymentAttempt) -> GatewayCall:
    from strongbox.connectors.base import StatusRequest

    request = StatusRequest(OperationKind.AUTHORIZE, a.gateway_idempotency_key, a.merchant_id)
    return GatewayCall(a.id, a.merchant_id, a.connector, OperationKind.AUTHORIZE, request)


def test_a_recorded_outcome_clears_the_lease(api: TestClient, runtime: Runtime) -> None:
    pi = api.post("/v1/payment_intents", data=FORM).json()
    assert pi["status"] == "succeeded"
    assert _attempt(runtime, pi["id"]).lease_until is None


def test_held_attempts_are_renewed_and_left_alone_by_recovery(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    assert runtime.simulator is not None
    runtime.simulator.inject("timeout", operations={OperationKind.AUTHORIZE})
    pi = api.post("/v1/payment_intents", data=FORM).json()
    a = _attempt(runtime, pi["id"])
    assert a.status == "unknown"
    assert a.lease_until is None
    keeper = LeaseKeeper(runtime.db, seconds=30)
    try:
        with runtime.db.unit_of_work() as uow:  # recovery claims it (its own lease) ...
            row = uow.session.get(PaymentAttempt, a.seq)
            assert row is not None
            row.lease_until = uow.clock.now() + timedelta(seconds=1)
            uow.commit()
        with keeper.hold(_call(a)):  # ... and holds it while it asks the gateway
            assert keeper.held() == [a.id]
            assert keeper.renew_now() == 1
            renewed = _attempt(runtime, pi["id"]).lease_until
            assert renewed is not None
            assert renewed - a.updated > timedelta(seconds=25)
            assert recover_once(runtime, min_age=timedelta(0)) == 0  # held: not taken
        assert keeper.held() == []
        assert keeper.renew_now() == 0
    finally:
        keeper.close()


def test_a_cleared_lease_is_not_brought_back(api: TestClient, runtime: Runtime) -> None:
    pi = api.post("/v1/payment_intents", data=FORM).json()
    a = _attempt(runtime, pi["id"])
    keeper = LeaseKeeper(runtime.db, seconds=30)
    try:
        with keeper.hold(_call(a)):
            assert keeper.renew_now() == 0  # its outcome was recorded: nothing to renew
        assert _attempt(runtime, pi["id"]).lease_until is None
    finally:
        keeper.close()


def test_the_keeper_renews_on_its_own_while_a_call_runs(api: TestClient, runtime: Runtime) -> None:
    import threading

    assert runtime.simulator is not None
    runtime.simulator.inject("timeout", operations={OperationKind.AUTHORIZE})
    pi = api.post("/v1/payment_intents", data=FORM).json()
    a = _attempt(runtime, pi["id"])
    with runtime.db.unit_of_work() as uow:
        row = uow.session.get(PaymentAttempt, a.seq)
        assert row is not None
        start = uow.clock.now()
        row.lease_until = start + timedelta(seconds=0.3)
        uow.commit()
    keeper = LeaseKeeper(runtime.db, seconds=0.3)  # renewed every 0.1 s
    done = threading.Event()
    try:
        with keeper.hold(_call(a)):
            deadline = 300  # 30 s at most on a loaded machine
            for _ in range(deadline):
                lease = _attempt(runtime, pi["id"]).lease_until
                assert lease is not None
                if lease > start + timedelta(seconds=0.3):
                    done.set()
                    break
                done.wait(0.1)
        assert done.is_set(), "the keeper never renewed the lease"
    finally:
        keeper.close()
