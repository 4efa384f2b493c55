"""The simulator's ACH network (``Capability.BANK_DEBIT``): a debit is processing, then
settles on the engine's clock or a settlement event; Stripe's failing test accounts return;
the same key answers the same debit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.connectors.base import (
    AuthorizeRequest,
    BankAccountData,
    Capability,
    CardData,
    OperationKind,
    OperationStatus,
    StatusRequest,
    TerminalError,
    UnknownOutcomeError,
)
from strongbox.connectors.simulator import SimulatorConnector, SimulatorEngine
from strongbox.connectors.simulator.ach import FAILING_ACCOUNTS
from strongbox.core.clock import FrozenClock
from strongbox.core.secret import Secret

ROUTING = "110000000"


def _debit(key: str, number: str = "000123456789", amount: int = 1000, **kw: object) -> Any:
    return AuthorizeRequest(
        idempotency_key=key,
        amount=amount,
        currency=str(kw.get("currency", "usd")),
        capture=True,
        merchant_id="acct_1",
        payment_id=str(kw.get("payment_id", "pi_1")),
        bank_account=BankAccountData(Secret(number), ROUTING),
    )


def _status(key: str) -> StatusRequest:
    return StatusRequest(kind=OperationKind.AUTHORIZE, idempotency_key=key, merchant_id="acct_1")


def test_a_debit_processes_then_settles_on_the_clock() -> None:
    clock = FrozenClock()
    engine = SimulatorEngine(clock=clock)
    engine.ach.settlement_seconds = 4 * 86400  # four days, like ACH
    conn = SimulatorConnector(engine)
    assert conn.supports(Capability.BANK_DEBIT)
    first = conn.authorize(_debit("k1"))
    assert (first.status, first.raw_status) == (OperationStatus.PENDING, "processing")
    assert first.gateway_reference is not None
    assert first.gateway_reference.startswith("py_")
    assert conn.get_status(_status("k1")).status is OperationStatus.PENDING
    clock.advance(timedelta(days=4))
    settled = conn.get_status(_status("k1"))
    assert (settled.status, settled.amount) == (OperationStatus.CAPTURED, 1000)
    assert conn.get_status(_status("nope")).status is OperationStatus.NOT_FOUND


@pytest.mark.parametrize("number", sorted(FAILING_ACCOUNTS))
def test_stripes_failing_test_accounts_return(number: str) -> None:
    engine = SimulatorEngine()
    engine.ach.settlement_seconds = 3600
    conn = SimulatorConnector(engine)
    assert conn.authorize(_debit("k", number)).status is OperationStatus.PENDING
    assert engine.ach.settle() == 1  # the settlement event
    r = conn.get_status(_status("k"))
    assert (r.status, r.decline_code) == (OperationStatus.DECLINED, FAILING_ACCOUNTS[number][0])
    assert r.details["payment_method_type"] == "us_bank_account"


def test_bad_debits_are_refused_and_faults_apply() -> None:
    engine = SimulatorEngine()
    conn = SimulatorConnector(engine)
    with pytest.raises(TerminalError):
        conn.authorize(_debit("eur", currency="eur"))
    conn.authorize(_debit("k", amount=1000))  # first use of the key
    with pytest.raises(TerminalError):
        conn.authorize(_debit("k", amount=2000))  # same key, other parameters
    engine.inject("timeout", operations={OperationKind.AUTHORIZE})
    with pytest.raises(UnknownOutcomeError):
        conn.authorize(_debit("t"))
    with pytest.raises(ValueError, match="exactly one"):
        AuthorizeRequest(
            idempotency_key="x",
            amount=1,
            currency="usd",
            capture=True,
            merchant_id="m",
            payment_id="p",
            card=CardData(Secret("4242424242424242"), 12, 2030),
            bank_account=BankAccountData(Secret("1"), ROUTING),
        )


def test_the_account_number_never_shows() -> None:
    data = BankAccountData(Secret("000123456789"), ROUTING)
    assert "000123456789" not in repr(data)
    assert "000123456789" not in repr(_debit("k"))
    assert data.last4 == "6789"


@given(
    keys=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=12),
    settle_at=st.integers(min_value=0, max_value=12),
)
def test_one_debit_per_key_whatever_the_retries(keys: list[str], settle_at: int) -> None:
    """Retries under a key never make a second debit, and a debit's answer only ever goes
    from processing to settled, never back."""
    engine = SimulatorEngine()
    engine.ach.settlement_seconds = 3600
    conn = SimulatorConnector(engine)
    refs: dict[str, str] = {}
    seen: dict[str, OperationStatus] = {}
    for i, key in enumerate(keys):
        if i == settle_at:
            engine.ach.settle()
        r = conn.authorize(_debit(key, payment_id=f"pi_{key}"))
        refs.setdefault(key, str(r.gateway_reference))
        assert r.gateway_reference == refs[key]
        now = conn.get_status(_status(key)).status
        if seen.get(key) is OperationStatus.CAPTURED:
            assert now is OperationStatus.CAPTURED
        seen[key] = now
    assert len(engine.ach.debits()) == len(set(keys))
