"""``Idempotency-Key`` on every Financial Connections write: the same request again gets the
stored answer (``Idempotent-Replayed``) and does nothing, errors included; other parameters
under the key are refused."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from strongbox.banking.models import BankSession, BankWebhookEvent
from strongbox.runtime import Runtime
from support import error_of

FC = "/v1/financial_connections"


def _post(bank: Bank, path: str, key: str, **data: Any) -> Any:
    return bank.api.post(FC + path, data=data, headers={"Idempotency-Key": key})


def _count(runtime: Runtime, column: Any) -> int:
    with runtime.db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count(column))).scalar_one())


def test_session_create_and_complete_are_idempotent(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    params = {
        "account_holder[type]": "customer",
        "account_holder[customer]": "cus_idem",
        "permissions[0]": "balances",
    }
    first = _post(bank, "/sessions", "sess-1", **params)
    again = _post(bank, "/sessions", "sess-1", **params)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(runtime, BankSession.seq) == 1
    assert plaid_fake.calls["/link/token/create"] == 1
    other = _post(bank, "/sessions", "sess-1", **{**params, "permissions[0]": "transactions"})
    assert error_of(other, 400, type_="idempotency_error")
    s = first.json()
    public = plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    done = _post(bank, f"/sessions/{s['id']}/complete", "done-1", public_token=public)
    assert done.status_code == 200, done.text
    replay = _post(bank, f"/sessions/{s['id']}/complete", "done-1", public_token=public)
    assert replay.json() == done.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert plaid_fake.calls["/item/public_token/exchange"] == 1


def test_refresh_disconnect_and_balance_check_are_idempotent(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    acct = bank.link(("balances", "payment_method"))["accounts"]["data"][0]["id"]
    r1 = _post(bank, f"/accounts/{acct}/refresh", "ref-1", **{"features[0]": "balance"})
    bank.settle_refresh(acct)  # the refresh is done: the same key must not queue another
    r2 = _post(bank, f"/accounts/{acct}/refresh", "ref-1", **{"features[0]": "balance"})
    assert r2.json() == r1.json()
    assert r2.json()["balance_refresh"]["status"] == "pending"  # the stored answer
    queued = BankWebhookEvent.seq
    assert _count(runtime, queued) == 1
    # An error is stored too: the retry gets it without asking the bank again.
    reads = plaid_fake.calls["/accounts/balance/get"]
    big = {"amount": 10**9, "currency": "usd"}
    e1 = _post(bank, f"/accounts/{acct}/balance_check", "chk-1", **big)
    assert error_of(e1, 402)["code"] == "insufficient_funds"
    e2 = _post(bank, f"/accounts/{acct}/balance_check", "chk-1", **big)
    assert e2.json() == e1.json()
    assert e2.headers["Idempotent-Replayed"] == "true"
    assert plaid_fake.calls["/accounts/balance/get"] == reads + 1
    d1 = _post(bank, f"/accounts/{acct}/disconnect", "dis-1")
    d2 = _post(bank, f"/accounts/{acct}/disconnect", "dis-1")
    assert d1.json() == d2.json()
    assert d2.headers["Idempotent-Replayed"] == "true"
    events = bank.api.get(
        "/v1/events", params={"type": "financial_connections.account.disconnected"}
    ).json()["data"]
    assert len(events) == 1


def test_a_bad_key_is_refused_before_anything_runs(bank: Bank, plaid_fake: PlaidFake) -> None:
    r = _post(
        bank,
        "/sessions",
        "k" * 300,
        **{"account_holder[type]": "account", "permissions[0]": "balances"},
    )
    assert error_of(r, 400)
    assert plaid_fake.calls["/link/token/create"] == 0
