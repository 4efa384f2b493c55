"""Before a debit: a fresh balance read, and an insufficient one declines (402
``insufficient_funds``) before anything is sent."""

from __future__ import annotations

from typing import Any

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from support import error_of


def _check(bank: Bank, acct: str, amount: object, currency: str = "usd") -> Any:
    return bank.api.post(
        f"/v1/financial_connections/accounts/{acct}/balance_check",
        data={"amount": amount, "currency": currency},
    )


def test_a_covered_debit_passes_on_a_fresh_balance(bank: Bank, plaid_fake: PlaidFake) -> None:
    done = bank.link(("balances", "payment_method"))
    acct = done["accounts"]["data"][0]["id"]
    calls = plaid_fake.calls["/accounts/balance/get"]
    r = _check(bank, acct, 10000)  # available: 100.00 USD
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["result"], body["amount"], body["currency"]) == ("sufficient", 10000, "usd")
    assert plaid_fake.calls["/accounts/balance/get"] == calls + 1  # read now, not a cached one


def test_an_insufficient_balance_declines(bank: Bank, plaid_fake: PlaidFake) -> None:
    done = bank.link(("balances", "payment_method"))
    acct = done["accounts"]["data"][0]["id"]
    (item,) = plaid_fake.items.values()
    item.accounts[0]["balances"]["available"] = 99.99
    err = error_of(_check(bank, acct, 10000), 402, type_="card_error")
    assert (err["code"], err["decline_code"]) == ("insufficient_funds", "insufficient_funds")
    # The balance that was read is stored, with its event.
    got = bank.api.get(f"/v1/financial_connections/accounts/{acct}").json()
    assert got["balance"]["cash"]["available"] == {"usd": 9999}


def test_balance_check_errors(bank: Bank, plaid_fake: PlaidFake) -> None:
    done = bank.link(("balances",))
    acct = done["accounts"]["data"][0]["id"]
    assert error_of(_check(bank, acct, 100, "eur"), 400)["code"] == "balance_unavailable"
    assert error_of(_check(bank, acct, 0), 400)["param"] == "amount"
    assert error_of(_check(bank, acct, "ten"), 400)["param"] == "amount"
    assert error_of(_check(bank, acct, 100, "zzz"), 400)["code"] == "invalid_currency"
    assert error_of(_check(bank, "fca_nope", 100), 404)["code"] == "resource_missing"
    (item,) = plaid_fake.items.values()
    item.login_required = True  # the balance cannot be read: no debit
    assert error_of(_check(bank, acct, 100), 400)["code"] == "balance_unavailable"
    assert error_of(_check(bank, acct, 100), 400)["code"] == "account_inactive"
