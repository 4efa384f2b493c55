from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from simulator_helpers import MERCHANT, THREE_DS, VISA, auth, cap, key, ref_, status, void

from strongbox.connectors.base import (
    OperationKind,
    OperationStatus,
    RetryableError,
    TerminalError,
    UnknownOutcomeError,
)
from strongbox.connectors.simulator import AUTHENTICATION_FAILURE, ChargeStatus, SimulatorEngine
from strongbox.core.clock import FrozenClock

BASE_URL = "http://sim.test/simulator"


@pytest.fixture
def engine() -> SimulatorEngine:
    return SimulatorEngine(base_url=BASE_URL + "/")


def captured_ref(engine: SimulatorEngine, amount: int = 2000) -> str:
    result = engine.authorize(auth(amount=amount, capture=True))
    assert result.status is OperationStatus.CAPTURED
    assert result.gateway_reference is not None
    return result.gateway_reference


def authorized_ref(engine: SimulatorEngine, amount: int = 2000) -> str:
    result = engine.authorize(auth(amount=amount, capture=False))
    assert result.status is OperationStatus.AUTHORIZED
    assert result.gateway_reference is not None
    return result.gateway_reference


# ---------------------------------------------------------------------------- idempotency


def test_replay_returns_first_result_and_counts(engine: SimulatorEngine) -> None:
    request = auth(amount=1234)
    first = engine.authorize(request)
    assert engine.authorize(request) == first
    assert engine.authorize(request) == first
    [op] = engine.operations()
    assert (op.idempotency_key, op.replays, op.amount) == (request.idempotency_key, 2, 1234)
    [charge] = engine.charges()
    assert charge.captured_amount == 1234


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 2001},
        {"capture": False},
        {"currency": "eur"},
        {"number": "5555555555554444"},
    ],
)
def test_same_key_different_parameters_is_refused(
    engine: SimulatorEngine, change: dict[str, object]
) -> None:
    k = key()
    engine.authorize(auth(idempotency_key=k))
    with pytest.raises(TerminalError) as err:
        engine.authorize(auth(idempotency_key=k, **change))  # type: ignore[arg-type]
    assert err.value.gateway_code == "idempotency_error"
    assert len(engine.charges()) == 1


def test_same_key_for_another_operation_kind_is_refused(engine: SimulatorEngine) -> None:
    k = key()
    ref = authorized_ref(engine)
    engine.capture(cap(ref, 2000, k))
    with pytest.raises(TerminalError, match="capture"):
        engine.void(void(ref, k))
    assert engine.lookup(status(OperationKind.VOID, k)).status is OperationStatus.NOT_FOUND
    assert engine.lookup(status(OperationKind.CAPTURE, k)).status is OperationStatus.CAPTURED


def test_keys_are_scoped_per_merchant(engine: SimulatorEngine) -> None:
    k = key()
    a = engine.authorize(auth(idempotency_key=k, merchant="acct_a", amount=100))
    b = engine.authorize(auth(idempotency_key=k, merchant="acct_b", amount=200))
    assert a.gateway_reference != b.gateway_reference
    assert len(engine.operations()) == 2
    assert engine.operation(k, "acct_b") is not None
    # Another merchant cannot see or touch the payment.
    assert a.gateway_reference is not None
    with pytest.raises(TerminalError) as err:
        engine.refund(ref_(a.gateway_reference, 50, merchant="acct_b"))
    assert err.value.gateway_code == "resource_missing"
    lookup = engine.get_status(status(OperationKind.AUTHORIZE, k, merchant="acct_c"))
    assert lookup.status is OperationStatus.NOT_FOUND


def test_empty_idempotency_key_is_refused(engine: SimulatorEngine) -> None:
    with pytest.raises(TerminalError, match="idempotency key"):
        engine.authorize(dataclasses.replace(auth(), idempotency_key=""))
    assert engine.charges() == []


def test_concurrent_requests_with_one_key_charge_once(engine: SimulatorEngine) -> None:
    request = auth(amount=999)
    results = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        results.append(engine.authorize(request))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16
    assert len({r.gateway_reference for r in results}) == 1
    assert len(engine.charges()) == 1
    assert engine.operations()[0].replays == 15


def test_concurrent_refunds_never_exceed_captured(engine: SimulatorEngine) -> None:
    ref = captured_ref(engine, 2000)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            engine.refund(ref_(ref, 100))
            outcome = "ok"
        except TerminalError:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 20
    assert outcomes.count("refused") == 20
    charge = engine.charge(ref)
    assert charge is not None
    assert charge.refunded_amount == 2000
    assert charge.refundable_amount == 0


# ---------------------------------------------------------------------------- lifecycle


def test_partial_capture_releases_the_rest(engine: SimulatorEngine) -> None:
    ref = authorized_ref(engine, 2000)
    result = engine.capture(cap(ref, 1200))
    assert (result.status, result.amount) == (OperationStatus.CAPTURED, 1200)
    assert result.details["released_amount"] == 800
    charge = engine.charge(ref)
    assert charge is not None
    assert (charge.status, charge.captured_amount, charge.released_amount) == (
        ChargeStatus.CAPTURED,
        1200,
        800,
    )
    with pytest.raises(TerminalError) as err:
        engine.capture(cap(ref, 800))
    assert err.value.gateway_code == "charge_already_captured"


def test_capture_rules(engine: SimulatorEngine) -> None:
    ref = authorized_ref(engine, 2000)
    with pytest.raises(TerminalError) as err:
        engine.capture(cap(ref, 2001))
    assert err.value.gateway_code == "amount_too_large"
    with pytest.raises(TerminalError) as err:
        engine.capture(cap(ref, 0))
    assert err.value.gateway_code == "invalid_amount"
    with pytest.raises(TerminalError) as err:
        engine.capture(cap(ref, 100, currency="eur"))
    assert err.value.gateway_code == "currency_mismatch"
    with pytest.raises(TerminalError) as err:
        engine.capture(cap("sim_ch_nope", 100))
    assert err.value.gateway_code == "resource_missing"
    # None of the refusals were recorded, and the payment can still be captured.
    assert len(engine.operations()) == 1
    assert engine.capture(cap(ref, 2000)).status is OperationStatus.CAPTURED


def test_capture_of_voided_payment_is_refused(engine: SimulatorEngine) -> None:
    ref = authorized_ref(engine)
    voided = engine.void(void(ref))
    assert (voided.status, voided.amount) == (OperationStatus.VOIDED, 2000)
    with pytest.raises(TerminalError, match="cannot capture a voided payment"):
        engine.capture(cap(ref, 2000))
    with pytest.raises(TerminalError, match="already been voided"):
        engine.void(void(ref))
    charge = engine.charge(ref)
    assert charge is not None
    assert charge.voided
    assert charge.released_amount == 2000


def test_void_of_captured_payment_is_refused(engine: SimulatorEngine) -> None:
    ref = captured_ref(engine)
    with pytest.raises(TerminalError, match="cannot void a captured payment"):
        engine.void(void(ref))


def test_declined_payment_cannot_be_captured_voided_or_refunded(engine: SimulatorEngine) -> None:
    result = engine.authorize(auth("4000000000009995", capture=False))
    assert result.status is OperationStatus.DECLINED
    assert result.decline_code == "insufficient_funds"
    assert result.details["code"] == "card_declined"
    ref = result.gateway_reference
    assert ref is not None
    for call in (
        lambda: engine.capture(cap(ref, 2000)),
        lambda: engine.void(void(ref)),
        lambda: engine.refund(ref_(ref, 100)),
    ):
        with pytest.raises(TerminalError, match=r"declined|not been captured"):
            call()


def test_refund_rules(engine: SimulatorEngine) -> None:
    with pytest.raises(TerminalError, match="not been captured"):
        engine.refund(ref_(authorized_ref(engine), 100))
    ref = captured_ref(engine, 1000)
    r1 = engine.refund(ref_(ref, 400))
    r2 = engine.refund(ref_(ref, 300))
    assert r1.gateway_reference != r2.gateway_reference
    assert r1.details["charge_reference"] == ref
    with pytest.raises(TerminalError) as err:
        engine.refund(ref_(ref, 301))
    assert err.value.gateway_code == "amount_too_large"
    assert engine.refund(ref_(ref, 300)).status is OperationStatus.REFUNDED
    with pytest.raises(TerminalError) as err:
        engine.refund(ref_(ref, 1))
    assert err.value.gateway_code == "charge_already_refunded"
    with pytest.raises(TerminalError) as err:
        engine.refund(ref_(ref, -5))
    assert err.value.gateway_code == "invalid_amount"
    charge = engine.charge(ref)
    assert charge is not None
    assert (charge.captured_amount, charge.refunded_amount) == (1000, 1000)
    refunds = [op for op in engine.operations() if op.kind is OperationKind.REFUND]
    assert [op.amount for op in refunds] == [400, 300, 300]


def test_status_lookup_for_each_kind(engine: SimulatorEngine) -> None:
    ka, kc, kr = key(), key(), key()
    ref = engine.authorize(auth(idempotency_key=ka, capture=False)).gateway_reference
    assert ref is not None
    engine.capture(cap(ref, 1500, kc))
    engine.refund(ref_(ref, 500, kr))
    a = engine.get_status(status(OperationKind.AUTHORIZE, ka))
    assert (a.status, a.gateway_reference, a.amount) == (OperationStatus.AUTHORIZED, ref, 2000)
    c = engine.get_status(status(OperationKind.CAPTURE, kc))
    assert (c.status, c.amount) == (OperationStatus.CAPTURED, 1500)
    r = engine.get_status(status(OperationKind.REFUND, kr))
    assert (r.status, r.amount) == (OperationStatus.REFUNDED, 500)
    assert r.details["refunded_amount"] == 500
    unknown = engine.get_status(status(OperationKind.REFUND, key()))
    assert unknown.status is OperationStatus.NOT_FOUND


def test_authorize_validates_amount_and_currency(engine: SimulatorEngine) -> None:
    with pytest.raises(TerminalError, match="amount"):
        engine.authorize(auth(amount=0))
    with pytest.raises(TerminalError, match="currency"):
        engine.authorize(auth(currency="dollars"))
    assert engine.authorize(auth(currency="EUR")).status is OperationStatus.CAPTURED
    assert engine.charges()[0].currency == "eur"


def test_expiry_uses_the_engine_clock() -> None:
    clock = FrozenClock(datetime(2031, 6, 10, tzinfo=UTC))
    engine = SimulatorEngine(clock=clock)
    assert engine.authorize(auth(exp_month=6, exp_year=2031)).status is OperationStatus.CAPTURED
    late = engine.authorize(auth(exp_month=5, exp_year=2031))
    assert (late.status, late.decline_code) == (OperationStatus.DECLINED, "expired_card")
    assert engine.operations()[0].created_at == clock.now()


# ---------------------------------------------------------------------------- 3DS


def test_3ds_requires_action_then_success(engine: SimulatorEngine) -> None:
    request = auth(THREE_DS, capture=True, return_url="https://shop.test/back")
    result = engine.authorize(request)
    assert result.status is OperationStatus.REQUIRES_ACTION
    assert result.next_action is not None
    ref = result.next_action.reference
    assert result.next_action.redirect_url == f"{BASE_URL}/3ds/{ref}"
    with pytest.raises(TerminalError, match="authentication"):
        engine.capture(cap(result.gateway_reference or "", 2000))
    done = engine.complete_challenge(ref, True)
    assert done.status is OperationStatus.CAPTURED
    assert engine.complete_challenge(ref, True) == done  # repeating is harmless
    with pytest.raises(TerminalError) as err:
        engine.complete_challenge(ref, False)
    assert err.value.gateway_code == "unexpected_state"
    assert engine.get_status(status(OperationKind.AUTHORIZE, request.idempotency_key)) == done
    # A replay returns the response as first sent; the record shows the current outcome.
    assert engine.authorize(request).status is OperationStatus.REQUIRES_ACTION
    [op] = engine.operations()
    assert op.status is OperationStatus.CAPTURED
    charge = engine.charge_for_challenge(ref)
    assert charge is not None
    assert (charge.captured_amount, charge.return_url) == (2000, "https://shop.test/back")


def test_3ds_manual_capture_then_capture(engine: SimulatorEngine) -> None:
    result = engine.authorize(auth(THREE_DS, capture=False))
    assert result.next_action is not None
    assert engine.complete_challenge(result.next_action.reference, True).status is (
        OperationStatus.AUTHORIZED
    )
    assert result.gateway_reference is not None
    assert engine.capture(cap(result.gateway_reference, 2000)).status is OperationStatus.CAPTURED


def test_3ds_failure_declines(engine: SimulatorEngine) -> None:
    request = auth("4000002500003155")
    result = engine.authorize(request)
    assert result.next_action is not None
    failed = engine.complete_challenge(result.next_action.reference, False)
    assert failed.status is OperationStatus.DECLINED
    assert failed.decline_code == AUTHENTICATION_FAILURE == "payment_intent_authentication_failure"
    lookup = engine.get_status(status(OperationKind.AUTHORIZE, request.idempotency_key))
    assert lookup.status is OperationStatus.DECLINED
    assert engine.charges()[0].status is ChargeStatus.DECLINED


def test_3ds_void_before_completion(engine: SimulatorEngine) -> None:
    request = auth(THREE_DS)
    result = engine.authorize(request)
    assert result.next_action is not None
    assert result.gateway_reference is not None
    assert engine.void(void(result.gateway_reference)).status is OperationStatus.VOIDED
    with pytest.raises(TerminalError, match="can no longer complete"):
        engine.complete_challenge(result.next_action.reference, True)
    lookup = engine.get_status(status(OperationKind.AUTHORIZE, request.idempotency_key))
    assert lookup.status is OperationStatus.VOIDED


def test_unknown_challenge(engine: SimulatorEngine) -> None:
    with pytest.raises(TerminalError) as err:
        engine.complete_challenge("sim_3ds_nope", True)
    assert err.value.gateway_code == "resource_missing"
    assert engine.charge_for_challenge("sim_3ds_nope") is None


# ---------------------------------------------------------------------------- faults, latency


def test_fault_semantics(engine: SimulatorEngine) -> None:
    request = auth()
    engine.inject("error_5xx")
    with pytest.raises(RetryableError):
        engine.authorize(request)
    engine.inject("timeout")
    with pytest.raises(UnknownOutcomeError):
        engine.authorize(request)
    assert engine.charges() == []  # neither was processed
    engine.inject("drop_response")
    with pytest.raises(UnknownOutcomeError):
        engine.authorize(request)
    assert len(engine.charges()) == 1  # processed, answer lost
    assert engine.authorize(request).status is OperationStatus.CAPTURED
    assert engine.operations()[0].replays == 1


def test_dropped_refusal_is_still_unknown(engine: SimulatorEngine) -> None:
    ref = authorized_ref(engine)
    engine.inject("drop_response", operations={OperationKind.REFUND})
    with pytest.raises(UnknownOutcomeError):
        engine.refund(ref_(ref, 100))
    assert [op.kind for op in engine.operations()] == [OperationKind.AUTHORIZE]


def test_faults_are_fifo_counted_and_scoped(engine: SimulatorEngine) -> None:
    engine.inject("timeout", operations={OperationKind.REFUND}, count=2)
    engine.inject("error_5xx")
    assert engine.take_fault(OperationKind.CAPTURE) == "error_5xx"
    assert engine.take_fault(OperationKind.CAPTURE) is None
    assert engine.take_fault(OperationKind.REFUND) == "timeout"
    [left] = engine.faults()
    assert (left.kind, left.remaining) == ("timeout", 1)
    # Status lookups are never faulted.
    engine.inject("error_5xx", count=3)
    assert engine.get_status(status(OperationKind.REFUND, key())).status is (
        OperationStatus.NOT_FOUND
    )
    engine.clear_faults()
    assert engine.faults() == []


def test_inject_validates(engine: SimulatorEngine) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        engine.inject("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        engine.inject("timeout", count=0)
    with pytest.raises(ValueError, match="negative"):
        engine.set_latency(-1)


def test_latency_and_jitter() -> None:
    waits: list[float] = []
    engine = SimulatorEngine(latency_ms=40, jitter_ms=10, seed=7, sleep=waits.append)
    engine.authorize(auth())
    engine.get_status(status(OperationKind.AUTHORIZE, key()))
    assert len(waits) == 2
    assert all(0.040 <= w <= 0.050 for w in waits)
    engine.set_latency(0)
    engine.authorize(auth())
    assert len(waits) == 2  # no latency, no sleep
    engine.reset()
    assert (engine.latency_ms, engine.jitter_ms) == (40, 10)


def test_real_latency_is_applied() -> None:
    engine = SimulatorEngine(latency_ms=30)
    t0 = time.monotonic()
    engine.authorize(auth())
    assert time.monotonic() - t0 >= 0.03


def test_reset_forgets_everything(engine: SimulatorEngine) -> None:
    engine.authorize(auth(THREE_DS))
    engine.inject("timeout")
    engine.reset()
    assert (engine.charges(), engine.operations(), engine.faults()) == ([], [], [])


# ---------------------------------------------------------------------------- secrets


def test_no_pan_in_records_errors_or_logs(
    engine: SimulatorEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pans = [VISA, THREE_DS, "4000000000000002", "4242424242424241"]
    for pan in pans:
        engine.authorize(auth(pan, idempotency_key=f"k-{pan[-4:]}"))
    errors = []
    for attempt in (
        lambda: engine.authorize(auth(VISA, idempotency_key="k-4242", amount=1)),
        lambda: engine.authorize(auth(VISA, amount=-1)),
    ):
        with pytest.raises(TerminalError) as err:
            attempt()
        errors.append(repr(err.value) + str(err.value))
    engine.inject("drop_response")
    with pytest.raises(UnknownOutcomeError) as dropped:
        engine.authorize(auth(VISA))
    errors.append(str(dropped.value))
    text = " ".join(
        [caplog.text, *errors, repr(engine.charges()), repr(engine.operations())]
        + [repr(engine.lookup(status(OperationKind.AUTHORIZE, f"k-{p[-4:]}"))) for p in pans]
    )
    assert "4242" in text  # last4 is fine ...
    for pan in pans:
        assert pan not in text  # ... the PAN never
        assert pan[:12] not in text
    assert MERCHANT in repr(engine.charges())


# ---------------------------------------------------------------------------- listeners


def test_listeners_get_outcomes_and_disputes_despite_a_failing_one(
    engine: SimulatorEngine, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[dict[str, Any]] = []

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("listener down")

    engine.add_listener(broken)
    engine.add_listener(got.append)
    with caplog.at_level(logging.ERROR):
        ref = captured_ref(engine, 1500)
        dispute = engine.open_dispute(ref, reason="fraudulent")
    assert [e["type"] for e in got] == ["charge.captured", "dispute.opened"]
    assert (got[0]["data"]["charge"], got[0]["data"]["amount"]) == (ref, 1500)
    assert got[1]["data"] == {
        "charge": ref,
        "dispute": dispute,
        "amount": 1500,
        "currency": "usd",
        "reason": "fraudulent",
    }
    failures = [r for r in caplog.records if "listener failed" in r.getMessage()]
    assert len(failures) == 2
