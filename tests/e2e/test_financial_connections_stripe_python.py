"""Financial Connections through Stripe's official Python library, unchanged, against a live
Strongbox server whose Plaid provider talks to the Plaid fake over real HTTP; the fake posts
its signed webhooks to the live server over real HTTP too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from cryptography.hazmat.primitives.asymmetric import ec

from banking.conftest import plaid_banking
from banking.fakes.plaid_fake import CLIENT_ID, SECRET, PlaidFake
from strongbox.banking import tasks
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import LiveServer, Merchant, expire_leases, wait_until


@pytest.fixture
def plaid() -> Iterator[PlaidFake]:
    fake = PlaidFake()
    with BackgroundServer(SimulatorEngine(), app=fake.app, set_base_url=False) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def sc(
    runtime: Runtime, live_server: LiveServer, merchant: Merchant, plaid: PlaidFake
) -> stripe.StripeClient:
    runtime.banking = plaid_banking(runtime, plaid.url, live_server.url)  # type: ignore[attr-defined]
    return stripe.StripeClient(
        api_key=merchant.secret_key, base_addresses={"api": live_server.url}, max_network_retries=0
    )


def _link(sc: stripe.StripeClient, plaid: PlaidFake, permissions: list[str]) -> Any:
    session = sc.v1.financial_connections.sessions.create(
        params={
            "account_holder": {"type": "customer", "customer": "cus_e2e"},
            "permissions": permissions,  # type: ignore[typeddict-item]
            "prefetch": ["balance"],
        }
    )
    assert isinstance(session, stripe.financial_connections.Session)
    link_token = session["link_token"]
    public = plaid.fake_link_login(link_token, "user_good", "pass_good")
    sc.raw_request(
        "post", f"/v1/financial_connections/sessions/{session.id}/complete", public_token=public
    )
    return sc.v1.financial_connections.sessions.retrieve(session.id)


def _settled(sc: stripe.StripeClient, rt: Runtime, account: str, field: str) -> Any:
    """The account once the worker completed its refresh (the loop's pass, run here)."""

    def done() -> Any:
        tasks.process_webhooks(rt.db, rt.banking)  # type: ignore[arg-type]
        got = sc.v1.financial_connections.accounts.retrieve(account)
        return got if got[field]["status"] != "pending" else None

    return wait_until(done, f"the {field} to complete")


def test_link_refresh_sync_by_webhook_forgery_and_login_required(
    sc: stripe.StripeClient, plaid: PlaidFake, runtime: Runtime, live_server: LiveServer
) -> None:
    session = _link(sc, plaid, ["balances", "transactions"])
    accounts = session.accounts.data
    assert [a.last4 for a in accounts] == ["0000", "1111"]
    acct = accounts[0]
    assert isinstance(acct, stripe.financial_connections.Account)
    assert acct.balance is not None
    assert acct.balance.current.to_dict() == {"usd": 11000}

    # A balance refresh.
    item = next(iter(plaid.items.values()))
    item.accounts[0]["balances"]["current"] = 99.99
    pending = sc.v1.financial_connections.accounts.refresh(
        acct.id, params={"features": ["balance"]}
    )
    assert pending.balance_refresh is not None
    assert pending.balance_refresh.status == "pending"  # asynchronous, as Stripe's
    refreshed = _settled(sc, runtime, acct.id, "balance_refresh")
    assert refreshed.balance is not None
    assert refreshed.balance.current.to_dict() == {"usd": 9999}
    assert refreshed.balance_refresh is not None
    assert refreshed.balance_refresh.status == "succeeded"

    # The first sync, then new data announced by a signed webhook over HTTP.
    sc.v1.financial_connections.accounts.refresh(acct.id, params={"features": ["transactions"]})
    _settled(sc, runtime, acct.id, "transaction_refresh")
    plaid.add_transactions(
        item.item_id, [{"transaction_id": "hook-1", "amount": 3.2, "name": "Bakery"}]
    )
    (resp,) = plaid.deliver(
        lambda url, body, headers: httpx.post(url, content=body, headers=headers)
    )
    assert resp.status_code == 200, resp.text
    assert tasks.process_webhooks(runtime.db, runtime.banking) == 1  # type: ignore[arg-type]
    txns = sc.v1.financial_connections.transactions.list(params={"account": acct.id})
    bakery = [t for t in txns.data if t.description == "Bakery"]
    assert [(t.amount, t.status) for t in bakery] == [(-320, "posted")]
    assert bakery[0].id.startswith("fctxn_")

    # A forged webhook is refused.
    body = b'{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"x"}'
    forged = plaid.sign(body, key=ec.generate_private_key(ec.SECP256R1()))
    r = httpx.post(
        live_server.url + "/v1/financial_connections/webhooks/plaid",
        content=body,
        headers={"Plaid-Verification": forged},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "webhook_signature_invalid"

    # A login-required item: Plaid's sandbox reset, its webhook, the account asks to relink.
    httpx.post(
        plaid.url + "/sandbox/item/reset_login",  # type: ignore[attr-defined]
        json={"client_id": CLIENT_ID, "secret": SECRET, "access_token": item.access_token},
    ).raise_for_status()
    plaid.deliver(lambda url, body, headers: httpx.post(url, content=body, headers=headers))
    tasks.process_webhooks(runtime.db, runtime.banking)  # type: ignore[arg-type]
    got = sc.v1.financial_connections.accounts.retrieve(acct.id)
    assert got.status == "inactive"
    assert got["relink_required"] is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        sc.v1.financial_connections.accounts.refresh(acct.id, params={"features": ["balance"]})
    assert err.value.code == "account_inactive"


def test_disconnect_through_stripe_python(sc: stripe.StripeClient, plaid: PlaidFake) -> None:
    session = _link(sc, plaid, ["balances"])
    ids = [a.id for a in session.accounts.data]
    for i in ids:
        got = sc.v1.financial_connections.accounts.disconnect(i)
        assert got.status == "disconnected"
    listed = sc.v1.financial_connections.accounts.list(params={"session": session.id})
    assert {a.status for a in listed.data} == {"disconnected"}
    assert next(iter(plaid.items.values())).removed


def test_a_us_bank_account_payment_method_through_stripe_python(
    sc: stripe.StripeClient, plaid: PlaidFake
) -> None:
    session = _link(sc, plaid, ["balances", "payment_method"])
    fca = session.accounts.data[0].id
    pm = sc.v1.payment_methods.create(
        params={
            "type": "us_bank_account",
            "us_bank_account": {"financial_connections_account": fca},
        }
    )
    assert isinstance(pm, stripe.PaymentMethod)
    assert pm.type == "us_bank_account"
    assert pm.us_bank_account is not None
    assert pm.us_bank_account.last4 == "0000"
    assert pm.us_bank_account.routing_number == "011401533"
    assert pm.us_bank_account.financial_connections_account == fca
    customer = sc.v1.customers.create(params={"name": "Bank payer"})
    attached = sc.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert attached.customer == customer.id
    # Before a debit: the balance, read now, covers 100.00 but not 100.01.
    ok = sc.raw_request(
        "post",
        f"/v1/financial_connections/accounts/{fca}/balance_check",
        amount=10000,
        currency="usd",
    )
    assert sc.deserialize(ok, api_mode="V1")["result"] == "sufficient"
    with pytest.raises(stripe.CardError) as declined:
        sc.raw_request(
            "post",
            f"/v1/financial_connections/accounts/{fca}/balance_check",
            amount=10001,
            currency="usd",
        )
    assert declined.value.code == "insufficient_funds"


def test_an_ach_debit_through_stripe_python(
    sc: stripe.StripeClient, plaid: PlaidFake, runtime: Runtime
) -> None:
    """confirm → processing (the balance read first), the settlement, then succeeded; and an
    amount the balance does not cover declined with nothing sent."""
    session = _link(sc, plaid, ["balances", "payment_method"])
    fca = session.accounts.data[0].id
    pm = sc.v1.payment_methods.create(
        params={
            "type": "us_bank_account",
            "us_bank_account": {"financial_connections_account": fca},
        }
    )
    assert runtime.simulator is not None
    network = runtime.simulator.ach
    network.settlement_seconds = 86400
    pi = sc.v1.payment_intents.create(
        params={
            "amount": 4200,
            "currency": "usd",
            "payment_method": pm.id,
            "payment_method_types": ["us_bank_account"],
            "confirm": True,
        }
    )
    assert pi.status == "processing"
    with pytest.raises(stripe.CardError) as declined:
        sc.v1.payment_intents.create(
            params={
                "amount": 10001,
                "currency": "usd",
                "payment_method": pm.id,
                "payment_method_types": ["us_bank_account"],
                "confirm": True,
            }
        )
    assert declined.value.code == "insufficient_funds"
    assert [d.amount for d in network.debits()] == [4200]  # the decline sent nothing
    network.settle()

    def settled() -> Any:
        expire_leases(runtime)
        recover_once(runtime, min_age=timedelta(0))
        got = sc.v1.payment_intents.retrieve(pi.id)
        return got if got.status == "succeeded" else None

    assert wait_until(settled, "the debit to settle").amount_received == 4200
