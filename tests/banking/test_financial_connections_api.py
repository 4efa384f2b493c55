"""Financial Connections over HTTP, against the Plaid fake through plaid-python."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidError, PlaidFake
from strongbox.banking import tasks
from strongbox.banking.models import BankAccountRow, BankItem, BankWebhookEvent
from strongbox.banking.refresh import REFRESH_CODE
from strongbox.runtime import Runtime
from support import error_of


def _events(api: TestClient, type_: str) -> list[dict[str, Any]]:
    r = api.get("/v1/events", params={"type": type_, "limit": 100})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def test_session_returns_a_link_token_and_links_accounts(bank: Bank, plaid_fake: PlaidFake) -> None:
    s = bank.session(("balances", "transactions"), **{"prefetch[0]": "balance"})
    assert s["object"] == "financial_connections.session"
    assert s["id"].startswith("fcsess_")
    assert s["link_token"].startswith("link-sandbox-")
    assert s["client_secret"].startswith(s["id"] + "_secret_")
    assert s["accounts"]["data"] == []
    assert s["permissions"] == ["balances", "transactions"]
    # The link token asks Plaid for webhooks to our receiver.
    sent = plaid_fake.link_tokens[s["link_token"]]
    assert sent["webhook"] == "http://testserver/v1/financial_connections/webhooks/plaid"
    assert sent["products"] == ["transactions"]

    public = plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    r = bank.api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": public}
    )
    assert r.status_code == 200, r.text
    done = r.json()
    accounts = done["accounts"]["data"]
    assert [a["last4"] for a in accounts] == ["0000", "1111"]
    chk = accounts[0]
    assert chk["id"].startswith("fca_")
    assert chk["object"] == "financial_connections.account"
    assert chk["category"] == "cash"
    assert chk["subcategory"] == "checking"
    assert chk["status"] == "active"
    assert chk["display_name"] == "Plaid Checking"
    assert chk["institution_name"] == "First Platypus Bank"  # /institutions/get_by_id
    # Prefetched balance, in minor units, with as_of.
    assert chk["balance"]["current"] == {"usd": 11000}
    assert chk["balance"]["cash"] == {"available": {"usd": 10000}}
    assert isinstance(chk["balance"]["as_of"], int)
    assert chk["balance_refresh"]["status"] == "succeeded"
    # Retrieve and list see the same accounts.
    again = bank.api.get(f"/v1/financial_connections/sessions/{s['id']}").json()
    assert [a["id"] for a in again["accounts"]["data"]] == [a["id"] for a in accounts]
    assert again["link_token"] is None  # used up
    listed = bank.api.get("/v1/financial_connections/accounts", params={"session": s["id"]}).json()
    assert {a["id"] for a in listed["data"]} == {a["id"] for a in accounts}
    by_holder = bank.api.get(
        "/v1/financial_connections/accounts", params={"account_holder[customer]": "cus_test"}
    ).json()
    assert {a["id"] for a in by_holder["data"]} == {a["id"] for a in accounts}
    nobody = bank.api.get(
        "/v1/financial_connections/accounts", params={"account_holder[customer]": "cus_other"}
    ).json()
    assert nobody["data"] == []
    created = _events(bank.api, "financial_connections.account.created")
    assert {e["data"]["object"]["id"] for e in created} == {a["id"] for a in accounts}


def test_the_access_token_is_sealed_and_never_shown(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    done = bank.link(("balances", "transactions", "payment_method"))
    (item,) = plaid_fake.items.values()
    token = item.access_token.encode()
    with runtime.db.engine.connect() as conn:
        stored = conn.execute(sa.select(BankItem.access_token_sealed)).scalar_one()
        numbers = conn.execute(sa.select(BankAccountRow.numbers_sealed)).scalars().all()
    assert stored
    assert token not in stored
    assert all(n and b"1111222233330000" not in n for n in numbers)
    # Nothing the API or the events show carries the token or a full account number.
    everything = [bank.api.get("/v1/events", params={"limit": 100}).text, str(done)]
    for a in done["accounts"]["data"]:
        everything.append(bank.api.get(f"/v1/financial_connections/accounts/{a['id']}").text)
        assert a["supported_payment_method_types"] == ["us_bank_account"]
    for text in everything:
        assert item.access_token not in text
        assert "1111222233330000" not in text


def test_wrong_credentials_in_link_leave_the_session_pending(
    bank: Bank, plaid_fake: PlaidFake
) -> None:
    s = bank.session()
    with pytest.raises(PlaidError) as bad:
        plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_bad")
    assert bad.value.code == "INVALID_CREDENTIALS"
    r = bank.api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete",
        data={"public_token": "public-sandbox-forged"},
    )
    err = error_of(r, 400)
    assert err["code"] == "bank_provider_refused"
    assert "INVALID_PUBLIC_TOKEN" in err["message"]
    assert bank.api.get(f"/v1/financial_connections/sessions/{s['id']}").json()["status"] == (
        "pending"
    )


def test_bad_input_gets_stripe_errors(bank: Bank) -> None:
    api = bank.api
    r = api.post("/v1/financial_connections/sessions", data={"account_holder[type]": "customer"})
    err = error_of(r, 400)
    assert err["param"] in ("permissions", "account_holder[customer]")
    r = api.post(
        "/v1/financial_connections/sessions",
        data={"account_holder[type]": "account", "permissions[0]": "telepathy"},
    )
    assert error_of(r, 400)["param"] == "permissions[0]"
    assert error_of(api.get("/v1/financial_connections/accounts/fca_nope"), 404)["code"] == (
        "resource_missing"
    )
    r = api.get("/v1/financial_connections/transactions")
    assert error_of(r, 400)["param"] == "account"
    s = bank.session()
    r = api.post(f"/v1/financial_connections/sessions/{s['id']}/complete")
    assert error_of(r, 400)["param"] == "public_token"
    r = api.post(
        "/v1/financial_connections/accounts/fca_nope/refresh", data={"features[0]": "balance"}
    )
    assert error_of(r, 404)["code"] == "resource_missing"


def test_another_merchant_gets_404(bank: Bank, client: TestClient, new_merchant: Any) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    other = new_merchant()
    h = other.headers
    assert client.get(f"/v1/financial_connections/accounts/{acct}", headers=h).status_code == 404
    r = client.get(f"/v1/financial_connections/sessions/{done['id']}", headers=h)
    assert r.status_code == 404
    r = client.post(f"/v1/financial_connections/accounts/{acct}/disconnect", headers=h)
    assert r.status_code == 404
    r = client.get("/v1/financial_connections/transactions", params={"account": acct}, headers=h)
    assert r.status_code == 404
    assert client.get("/v1/financial_connections/accounts", headers=h).json()["data"] == []


def test_balance_refresh(bank: Bank, plaid_fake: PlaidFake) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]
    assert acct["balance"] is None  # not prefetched
    (item,) = plaid_fake.items.values()
    item.accounts[0]["balances"]["available"] = 42.17
    item.accounts[0]["balances"]["current"] = 1234567.89
    r = bank.api.post(
        f"/v1/financial_connections/accounts/{acct['id']}/refresh", data={"features[0]": "balance"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["balance_refresh"]["status"] == "pending"  # Stripe's: asynchronous
    assert r.json()["balance"] is None
    assert plaid_fake.calls["/accounts/balance/get"] == 0
    assert _events(bank.api, "financial_connections.account.refreshed_balance") == []
    body = bank.settle_refresh(acct["id"])
    assert body["balance"]["cash"]["available"] == {"usd": 4217}
    assert body["balance"]["current"] == {"usd": 123456789}
    assert body["balance_refresh"]["status"] == "succeeded"
    assert plaid_fake.calls["/accounts/balance/get"] == 1
    events = _events(bank.api, "financial_connections.account.refreshed_balance")
    assert {e["data"]["object"]["id"] for e in events} == {
        a["id"] for a in done["accounts"]["data"]
    }


def test_refresh_needs_the_permission(bank: Bank) -> None:
    done = bank.link(("balances",))
    acct = done["accounts"]["data"][0]["id"]
    r = bank.api.post(
        f"/v1/financial_connections/accounts/{acct}/refresh", data={"features[0]": "transactions"}
    )
    err = error_of(r, 400)
    assert (err["code"], err["param"]) == ("permission_missing", "features")


def test_ownership_refresh(bank: Bank) -> None:
    done = bank.link(("ownership",))
    acct = done["accounts"]["data"][0]["id"]
    owners = bank.refresh(acct, "ownership")["ownership"]["owners"]["data"]
    assert owners[0]["name"] == "Alberta Bobbeth Charleson"
    assert owners[0]["email"] == "accountholder0@example.com"


def test_transactions_refresh_lists_with_stable_ids(bank: Bank, plaid_fake: PlaidFake) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    assert bank.refresh(acct, "transactions")["transaction_refresh"]["status"] == "succeeded"
    txns = bank.transactions(acct)
    assert sorted(t["amount"] for t in txns) == [-8940, -1250, 50000]
    assert {t["status"] for t in txns} == {"posted"}
    assert all(t["id"].startswith("fctxn_") and t["account"] == acct for t in txns)
    ids = {t["description"]: t["id"] for t in txns}
    (item,) = plaid_fake.items.values()
    uber = next(t for k, t in item.log if t.get("name") == "Uber")
    plaid_fake.modify_transaction(item.item_id, {**uber, "amount": 13.75, "pending": True})
    plaid_fake.remove_transaction(
        item.item_id, next(t["transaction_id"] for k, t in item.log if t.get("name") == "Tectra")
    )
    bank.refresh(acct, "transactions")
    after = {t["description"]: t for t in bank.transactions(acct)}
    assert {d: t["id"] for d, t in after.items()} == ids  # the same ids
    assert (after["Uber"]["amount"], after["Uber"]["status"]) == (-1375, "pending")
    assert after["Tectra"]["status"] == "void"
    assert after["Tectra"]["status_transitions"]["void_at"] is not None


def test_disconnect_removes_the_item_and_destroys_the_token(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime
) -> None:
    done = bank.link()
    first, second = (a["id"] for a in done["accounts"]["data"])
    r = bank.api.post(f"/v1/financial_connections/accounts/{first}/disconnect")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disconnected"
    assert plaid_fake.calls["/item/remove"] == 0  # the other account still shares data
    r = bank.api.post(f"/v1/financial_connections/accounts/{second}/disconnect")
    assert r.json()["status"] == "disconnected"
    assert plaid_fake.calls["/item/remove"] == 1
    (item,) = plaid_fake.items.values()
    assert item.removed
    with runtime.db.engine.connect() as conn:
        assert conn.execute(sa.select(BankItem.access_token_sealed)).scalar_one() is None
    events = _events(bank.api, "financial_connections.account.disconnected")
    assert {e["data"]["object"]["id"] for e in events} == {first, second}
    r = bank.api.post(
        f"/v1/financial_connections/accounts/{first}/refresh", data={"features[0]": "balance"}
    )
    assert error_of(r, 400)["code"] == "account_disconnected"


def test_provider_outages_are_stripe_errors(bank: Bank, plaid_fake: PlaidFake) -> None:
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    check = f"/v1/financial_connections/accounts/{acct}/balance_check"
    plaid_fake.rate_limit(1)
    r = bank.api.post(check, data={"amount": 100, "currency": "usd"})
    assert error_of(r, 429)["code"] == "rate_limit"
    plaid_fake.fail(1)
    r = bank.api.post(check, data={"amount": 100, "currency": "usd"})
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "bank_provider_unavailable"


def test_login_required_on_refresh_deactivates_and_a_relink_session_repairs(
    bank: Bank, plaid_fake: PlaidFake
) -> None:
    done = bank.link()
    accts = [a["id"] for a in done["accounts"]["data"]]
    (item,) = plaid_fake.items.values()
    item.login_required = True
    body = bank.refresh(accts[0], "balance")
    assert (body["status"], body["relink_required"]) == ("inactive", True)
    assert body["balance_refresh"]["status"] == "failed"
    deact = _events(bank.api, "financial_connections.account.deactivated")
    assert {e["data"]["object"]["id"] for e in deact} == set(accts)
    r = bank.api.post(
        f"/v1/financial_connections/accounts/{accts[0]}/refresh", data={"features[0]": "balance"}
    )
    assert error_of(r, 400)["code"] == "account_inactive"
    # Update mode: a session for the same item, Link with the right login again.
    s = bank.session(**{"relink_account": accts[0]})
    assert plaid_fake.link_tokens[s["link_token"]]["access_token"] == item.access_token
    plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    r = bank.api.post(f"/v1/financial_connections/sessions/{s['id']}/complete")
    assert r.status_code == 200, r.text
    assert {a["status"] for a in r.json()["accounts"]["data"]} == {"active"}
    react = _events(bank.api, "financial_connections.account.reactivated")
    assert {e["data"]["object"]["id"] for e in react} == set(accts)


def test_a_link_that_fails_halfway_leaves_nothing_open(bank: Bank, plaid_fake: PlaidFake) -> None:
    s = bank.session()
    public = plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    plaid_fake.fail(1, path="/accounts/get")
    r = bank.api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": public}
    )
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "bank_provider_unavailable"
    (item,) = plaid_fake.items.values()
    assert item.removed  # no login left open at Plaid that we hold no token for
    assert bank.api.get(f"/v1/financial_connections/sessions/{s['id']}").json()["status"] == (
        "pending"
    )
    assert bank.api.get("/v1/financial_connections/accounts").json()["data"] == []


def test_login_required_while_linking_is_a_stripe_error(bank: Bank, plaid_fake: PlaidFake) -> None:
    s = bank.session()
    public = plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    (item,) = plaid_fake.items.values()
    item.login_required = True
    r = bank.api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": public}
    )
    assert error_of(r, 400)["code"] == "bank_login_required"
    assert item.removed


def test_a_retried_complete_gets_the_session_not_an_error(
    bank: Bank, plaid_fake: PlaidFake
) -> None:
    s = bank.session()
    public = plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    url = f"/v1/financial_connections/sessions/{s['id']}/complete"
    first = bank.api.post(url, data={"public_token": public})
    assert first.status_code == 200, first.text
    again = bank.api.post(url, data={"public_token": public})  # the answer was lost: a retry
    assert again.status_code == 200, again.text
    assert again.json()["accounts"] == first.json()["accounts"]
    assert plaid_fake.calls["/item/public_token/exchange"] == 1
    other = bank.api.post(url, data={"public_token": "public-sandbox-another"})
    assert error_of(other, 400)["code"] == "session_already_completed"


def test_the_bank_name_is_for_display_only(bank: Bank, plaid_fake: PlaidFake) -> None:
    plaid_fake.fail(1, path="/institutions/get_by_id")
    done = bank.link()  # Plaid could not name the bank: the link goes on
    assert {a["institution_name"] for a in done["accounts"]["data"]} == {"Plaid"}


def _queued(runtime: Runtime) -> list[Any]:
    with runtime.db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(BankWebhookEvent.status, BankWebhookEvent.attempts)
                .where(BankWebhookEvent.webhook_code == REFRESH_CODE)
                .order_by(BankWebhookEvent.seq)
            )
        )


def _due_now(runtime: Runtime) -> None:
    """The back-off has passed (its length is tested with the webhooks)."""
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(BankWebhookEvent)
            .where(BankWebhookEvent.status == "pending")
            .values(next_attempt_at=uow.clock.now())
        )
        uow.commit()


def test_a_refresh_is_queued_once_retried_and_ends_failed_with_its_event(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, banking: Any
) -> None:
    acct = bank.link()["accounts"]["data"][0]["id"]
    url = f"/v1/financial_connections/accounts/{acct}/refresh"
    first = bank.api.post(url, data={"features[0]": "balance"})
    again = bank.api.post(url, data={"features[0]": "balance"})
    assert first.json()["balance_refresh"]["status"] == "pending"
    assert again.json()["balance_refresh"] == first.json()["balance_refresh"]
    assert len(_queued(runtime)) == 1  # the pending refresh answers both requests
    plaid_fake.rate_limit(1)
    tasks.process_webhooks(runtime.db, banking)
    assert _queued(runtime) == [("pending", 1)]  # retried later, still pending
    assert (
        bank.api.get(f"/v1/financial_connections/accounts/{acct}").json()["balance_refresh"][
            "status"
        ]
        == "pending"
    )
    with runtime.db.unit_of_work() as uow:  # the last try is next
        uow.session.execute(sa.update(BankWebhookEvent).values(attempts=tasks.MAX_ATTEMPTS - 1))
        uow.commit()
    _due_now(runtime)
    plaid_fake.rate_limit(1)
    tasks.process_webhooks(runtime.db, banking)
    body = bank.api.get(f"/v1/financial_connections/accounts/{acct}").json()
    assert body["balance_refresh"]["status"] == "failed"
    assert body["balance"] is None
    (ev,) = _events(bank.api, "financial_connections.account.refreshed_balance")
    assert ev["data"]["object"]["balance_refresh"]["status"] == "failed"
    assert _queued(runtime) == [("failed", tasks.MAX_ATTEMPTS)]
    # A later refresh succeeds.
    assert bank.refresh(acct, "balance")["balance_refresh"]["status"] == "succeeded"


def test_a_refresh_of_an_account_disconnected_meanwhile_fails(bank: Bank, runtime: Runtime) -> None:
    acct = bank.link()["accounts"]["data"][0]["id"]
    r = bank.api.post(
        f"/v1/financial_connections/accounts/{acct}/refresh", data={"features[0]": "transactions"}
    )
    assert r.json()["transaction_refresh"]["status"] == "pending"
    bank.api.post(f"/v1/financial_connections/accounts/{acct}/disconnect")
    body = bank.settle_refresh(acct, "transaction_refresh")
    assert body["transaction_refresh"]["status"] == "failed"
    assert body["transaction_refresh"]["id"] == r.json()["transaction_refresh"]["id"]
