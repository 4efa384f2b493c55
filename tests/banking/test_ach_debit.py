"""A PaymentIntent confirmed with a ``us_bank_account`` PaymentMethod is an ACH debit: the
linked account's balance is read first (an insufficient one declines with nothing sent),
the intent is ``processing`` while the debit settles, then ``succeeded`` (or failed by an
ACH return) through the recovery worker's status lookups, as Stripe's ACH Direct Debit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import error_of, expire_leases

PI = "/v1/payment_intents"


@pytest.fixture
def ach(runtime: Runtime) -> SimulatorEngine:
    engine = runtime.simulator
    assert engine is not None
    return engine


def _bank_pm(bank: Bank, account_number: str | None = None) -> tuple[str, str]:
    """A linked checking account (its ACH number replaced at the bank before the link, when
    given) as a PaymentMethod: (pm id, fca id)."""
    s = bank.session(("balances", "payment_method"))
    bank.fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    item = list(bank.fake.items.values())[-1]
    if account_number is not None:
        item.accounts[0]["ach"]["account"] = account_number
    public = bank.fake._public_token(item.item_id)
    done = bank.api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": public}
    )
    assert done.status_code == 200, done.text
    fca = done.json()["accounts"]["data"][0]["id"]
    r = bank.api.post(
        "/v1/payment_methods",
        data={"type": "us_bank_account", "us_bank_account[financial_connections_account]": fca},
    )
    assert r.status_code == 200, r.text
    return r.json()["id"], fca


def _pay(bank: Bank, pm: str, amount: int, **extra: Any) -> Any:
    return bank.api.post(
        PI,
        data={
            "amount": amount,
            "currency": "usd",
            "payment_method": pm,
            "payment_method_types[0]": "us_bank_account",
            "confirm": "true",
            **extra,
        },
    )


def _events(bank: Bank, type_: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = bank.api.get(
        "/v1/events", params={"type": type_, "limit": 100}
    ).json()["data"]
    return data


def _recover(runtime: Runtime) -> None:
    expire_leases(runtime)
    recover_once(runtime, min_age=timedelta(0))


def test_a_bank_debit_is_processing_then_succeeded(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, ach: SimulatorEngine
) -> None:
    ach.ach.settlement_seconds = 3600  # an hour on the engine's clock: settled by the event
    pm, fca = _bank_pm(bank)
    reads = plaid_fake.calls["/accounts/balance/get"]
    r = _pay(bank, pm, 9999)
    assert r.status_code == 200, r.text
    pi = r.json()
    assert (pi["status"], pi["amount_received"], pi["last_payment_error"]) == (
        "processing",
        0,
        None,
    )
    assert plaid_fake.calls["/accounts/balance/get"] == reads + 1  # the balance, read first
    (processing,) = _events(bank, "payment_intent.processing")
    assert processing["data"]["object"]["status"] == "processing"
    (debit,) = ach.ach.debits()
    assert (debit.amount, debit.last4, debit.payment_id) == (9999, "0000", pi["id"])
    balance = _events(bank, "financial_connections.account.refreshed_balance")
    assert fca in {e["data"]["object"]["id"] for e in balance}
    _recover(runtime)  # not settled yet: still processing
    assert bank.api.get(f"{PI}/{pi['id']}").json()["status"] == "processing"
    assert _events(bank, "payment_intent.succeeded") == []
    assert ach.ach.settle(debit.reference) == 1  # the settlement event
    _recover(runtime)
    done = bank.api.get(f"{PI}/{pi['id']}").json()
    assert (done["status"], done["amount_received"]) == ("succeeded", 9999)
    (ev,) = _events(bank, "payment_intent.succeeded")
    assert ev["data"]["object"]["id"] == pi["id"]
    assert len(ach.ach.debits()) == 1  # looked up, never sent again


def test_an_insufficient_balance_declines_before_anything_is_sent(
    bank: Bank, plaid_fake: PlaidFake, ach: SimulatorEngine
) -> None:
    pm, _ = _bank_pm(bank)
    r = _pay(bank, pm, 10001)  # the fake's checking account has 100.00 available
    err = error_of(r, 402, type_="card_error")
    assert (err["code"], err["decline_code"]) == ("insufficient_funds", "insufficient_funds")
    pi = err["payment_intent"]
    assert pi["status"] == "requires_payment_method"
    assert pi["last_payment_error"]["code"] == "insufficient_funds"
    assert ach.ach.debits() == []  # nothing reached the gateway
    assert [e["data"]["object"]["id"] for e in _events(bank, "payment_intent.payment_failed")] == [
        pi["id"]
    ]


def test_a_balance_that_cannot_be_read_sends_nothing(
    bank: Bank, plaid_fake: PlaidFake, ach: SimulatorEngine
) -> None:
    pm, fca = _bank_pm(bank)
    plaid_fake.fail(3, path="/accounts/balance/get")
    r = _pay(bank, pm, 500)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "gateway_unavailable"
    assert r.json()["error"]["payment_intent"]["status"] == "requires_payment_method"
    assert ach.ach.debits() == []
    plaid_fake.fail_paths.clear()
    (item,) = plaid_fake.items.values()
    item.login_required = True  # a broken login: the balance cannot be read either
    r = _pay(bank, pm, 500)
    assert r.json()["error"]["code"] == "gateway_unavailable"
    assert ach.ach.debits() == []
    account = bank.api.get(f"/v1/financial_connections/accounts/{fca}").json()
    assert account["status"] == "inactive"
    # Now the account itself refuses: 400, nothing written.
    before = bank.api.get(PI).json()["data"]
    err = error_of(_pay(bank, pm, 500), 400)
    assert err["code"] == "account_not_debitable"
    assert bank.api.get(PI).json()["data"] == before


def test_an_ach_return_fails_the_payment(
    bank: Bank, runtime: Runtime, ach: SimulatorEngine
) -> None:
    pm, _ = _bank_pm(bank, account_number="000111111113")  # Stripe's "account closed"
    r = _pay(bank, pm, 700)
    assert r.json()["status"] == "processing"
    _recover(runtime)  # settlement at once (no delay): the bank returned it
    pi = bank.api.get(f"{PI}/{r.json()['id']}").json()
    assert pi["status"] == "requires_payment_method"
    assert pi["last_payment_error"]["code"] == "account_closed"
    assert pi["amount_received"] == 0
    assert len(_events(bank, "payment_intent.payment_failed")) == 1


def test_what_a_bank_debit_refuses_writes_nothing(bank: Bank, ach: SimulatorEngine) -> None:
    pm, fca = _bank_pm(bank)
    r = bank.api.post(  # the intent must allow us_bank_account (Stripe's default is card)
        PI, data={"amount": 100, "currency": "usd", "payment_method": pm, "confirm": "true"}
    )
    assert error_of(r, 400)["code"] == "payment_intent_incompatible_payment_method"
    r = bank.api.post(PI, data={"amount": 100, "currency": "usd", "payment_method_types[0]": "ach"})
    assert error_of(r, 400)["param"] == "payment_method_types"
    for extra, param in (
        ({"currency": "eur"}, "currency"),
        ({"capture_method": "manual"}, "capture_method"),
    ):
        r = bank.api.post(
            PI,
            data={
                "amount": 100,
                "currency": "usd",
                "payment_method": pm,
                "payment_method_types[0]": "us_bank_account",
                "confirm": "true",
            }
            | extra,
        )
        err = error_of(r, 400)
        assert (err["code"], err["param"]) == ("payment_method_unsupported", param)
    bank.api.post(f"/v1/financial_connections/accounts/{fca}/disconnect")
    assert error_of(_pay(bank, pm, 100), 400)["code"] == "account_not_debitable"
    assert bank.api.get(PI).json()["data"] == []
    assert ach.ach.debits() == []


def test_a_retried_confirm_with_its_key_debits_once(
    bank: Bank, runtime: Runtime, ach: SimulatorEngine
) -> None:
    pm, _ = _bank_pm(bank)
    data = {
        "amount": 2500,
        "currency": "usd",
        "payment_method": pm,
        "payment_method_types[0]": "us_bank_account",
        "confirm": "true",
    }
    h = {"Idempotency-Key": "ach-once"}
    first = bank.api.post(PI, data=data, headers=h)
    again = bank.api.post(PI, data=data, headers=h)
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(ach.ach.debits()) == 1
    _recover(runtime)
    assert bank.api.get(f"{PI}/{first.json()['id']}").json()["status"] == "succeeded"


def test_a_refund_of_a_bank_debit_is_refused_by_the_simulator(
    bank: Bank, runtime: Runtime, ach: SimulatorEngine
) -> None:
    """Not supported yet (docs/bank-data.md): a Stripe-shaped error, nothing refunded."""
    pm, _ = _bank_pm(bank)
    pi = _pay(bank, pm, 300).json()
    _recover(runtime)
    assert bank.api.get(f"{PI}/{pi['id']}").json()["status"] == "succeeded"
    r = bank.api.post("/v1/refunds", data={"payment_intent": pi["id"]})
    assert error_of(r, 502)["code"] == "gateway_error"
    refunds = bank.api.get("/v1/refunds", params={"payment_intent": pi["id"]}).json()["data"]
    assert [x["status"] for x in refunds if x["status"] == "succeeded"] == []
