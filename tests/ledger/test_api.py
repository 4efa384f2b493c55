"""The ledger's HTTP API and Stripe's balance endpoints."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from strongbox.ledger.service import MAX_BATCH
from support import Merchant, error_of


def _account(api: TestClient, purpose: str, **extra: Any) -> dict[str, Any]:
    r = api.post("/v1/ledger/accounts", data={"purpose": purpose, "currency": "usd", **extra})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _pay(api: TestClient, amount: int) -> str:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_accounts_create_retrieve_list(api: TestClient) -> None:
    acct = _account(api, "cash", **{"metadata[team]": "ops"})
    assert acct["object"] == "ledger.account"
    assert acct["flags"] == "none"
    assert acct["credits_posted"] == 0
    assert acct["metadata"] == {"team": "ops"}
    assert _account(api, "cash")["id"] == acct["id"]  # same purpose and currency: the same one
    r = api.post(
        "/v1/ledger/accounts",
        data={"purpose": "cash", "currency": "usd", "flags": "debits_must_not_exceed_credits"},
    )
    assert error_of(r, 400)["code"] == "account_exists_with_different_flags"
    assert api.get(f"/v1/ledger/accounts/{acct['id']}").json()["id"] == acct["id"]
    listed = api.get("/v1/ledger/accounts").json()
    assert [a["id"] for a in listed["data"]] == [acct["id"]]


def test_account_errors(api: TestClient) -> None:
    r = api.post("/v1/ledger/accounts", data={"purpose": "merchant_pending", "currency": "usd"})
    assert error_of(r, 400)["code"] == "account_purpose_reserved"
    r = api.post("/v1/ledger/accounts", data={"purpose": "Bad Purpose", "currency": "usd"})
    assert error_of(r, 400)["param"] == "purpose"
    r = api.post("/v1/ledger/accounts", data={"purpose": "cash", "currency": "zzz"})
    assert error_of(r, 400)["code"] == "invalid_currency"
    r = api.post("/v1/ledger/accounts", data={"purpose": "cash", "currency": "usd", "flags": "x"})
    assert error_of(r, 400)["param"] == "flags"
    assert error_of(api.get("/v1/ledger/accounts/la_nope"), 404)["code"] == "resource_missing"


def test_transfer_create_replay_and_errors(api: TestClient) -> None:
    cash, sales = _account(api, "cash")["id"], _account(api, "sales")["id"]
    data = {
        "id": "order-1",
        "debit_account": cash,
        "credit_account": sales,
        "amount": 500,
        "currency": "usd",
    }
    r = api.post("/v1/ledger/transfers", data=data)
    assert r.status_code == 200, r.text
    t = r.json()
    assert (t["object"], t["type"], t["amount"], t["debit_account"]) == (
        "ledger.transfer",
        "posted",
        500,
        cash,
    )
    assert api.post("/v1/ledger/transfers", data=data).json() == t
    r = api.post("/v1/ledger/transfers", data={**data, "amount": 501})
    err = error_of(r, 400, type_="invalid_request_error")
    assert (err["code"], err["param"]) == ("exists_with_different_amount", "amount")
    r = api.post("/v1/ledger/transfers", data={**data, "id": "o2", "amount": 0})
    assert error_of(r, 400)["param"] == "amount"
    r = api.post("/v1/ledger/transfers", data={**data, "id": "o 3"})
    assert error_of(r, 400)["param"] == "id"
    r = api.post("/v1/ledger/transfers", data={**data, "id": "o4", "linked": "true"})
    assert error_of(r, 400)["code"] == "linked_event_chain_open"
    assert api.get("/v1/ledger/transfers/order-1").json() == t
    assert error_of(api.get("/v1/ledger/transfers/nope"), 404)["code"] == "resource_missing"
    assert api.get(f"/v1/ledger/accounts/{cash}").json()["debits_posted"] == 500
    listed = api.get("/v1/ledger/transfers", params={"account": cash}).json()
    assert [x["id"] for x in listed["data"]] == ["order-1"]


def test_two_phase_over_http(api: TestClient) -> None:
    cash, sales = _account(api, "cash")["id"], _account(api, "sales")["id"]
    base = {"debit_account": cash, "credit_account": sales, "currency": "usd"}
    r = api.post(
        "/v1/ledger/transfers",
        data={**base, "id": "h", "type": "pending", "amount": 90, "timeout": 3600},
    )
    assert r.status_code == 200, r.text
    assert r.json()["expires_at"] is not None
    r = api.post(
        "/v1/ledger/transfers",
        data={"id": "h.post", "type": "post_pending", "pending_id": "h", "amount": 30},
    )
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == 30
    r = api.post(
        "/v1/ledger/transfers", data={"id": "h.void", "type": "void_pending", "pending_id": "h"}
    )
    assert error_of(r, 400)["code"] == "pending_transfer_already_posted"
    acct = api.get(f"/v1/ledger/accounts/{cash}").json()
    assert (acct["debits_pending"], acct["debits_posted"]) == (0, 30)


def test_batch_is_atomic_per_linked_chain(api: TestClient) -> None:
    cash = _account(api, "cash")["id"]
    wallet = _account(api, "wallet", flags="debits_must_not_exceed_credits")["id"]
    base = {"currency": "usd"}
    batch = [
        {
            **base,
            "id": "a",
            "debit_account": cash,
            "credit_account": wallet,
            "amount": 50,
            "linked": True,
        },
        {**base, "id": "b", "debit_account": wallet, "credit_account": cash, "amount": 60},
        {**base, "id": "c", "debit_account": cash, "credit_account": wallet, "amount": 20},
        {**base, "id": "d", "debit_account": cash, "credit_account": wallet, "amount": "x"},
        {**base, "id": "e", "debit_account": wallet, "credit_account": cash, "amount": 20},
    ]
    r = api.post("/v1/ledger/transfers/batch", json={"transfers": batch})
    assert r.status_code == 200, r.text
    results = r.json()["data"]
    assert [x["status"] for x in results] == ["failed", "failed", "created", "failed", "created"]
    assert results[0]["error"]["code"] == "linked_event_failed"
    assert results[1]["error"]["code"] == "exceeds_credits"
    assert results[3]["error"]["param"] == "transfers[3][amount]"
    assert results[3]["error"]["type"] == "invalid_request_error"
    acct = api.get(f"/v1/ledger/accounts/{wallet}").json()
    assert (acct["credits_posted"], acct["debits_posted"]) == (20, 20)
    again = api.post("/v1/ledger/transfers/batch", json={"transfers": batch[2:3]}).json()["data"]
    assert again[0]["status"] == "replayed"
    assert again[0]["transfer"] == results[2]["transfer"]


def test_batch_request_errors(api: TestClient) -> None:
    r = api.post("/v1/ledger/transfers/batch", data={"transfers": "x"})
    assert error_of(r, 400)["code"] == "parameter_invalid"
    r = api.post(
        "/v1/ledger/transfers/batch", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert error_of(r, 400)["code"] == "parameter_invalid"
    r = api.post("/v1/ledger/transfers/batch", json={"transfers": []})
    assert error_of(r, 400)["param"] == "transfers"
    r = api.post("/v1/ledger/transfers/batch", json={"transfers": [{"id": "x"}] * (MAX_BATCH + 1)})
    assert error_of(r, 400)["code"] == "too_many_transfers"
    r = api.post("/v1/ledger/transfers/batch", json={"transfers": [{"id": "a\u0000"}]})
    assert error_of(r, 400)["code"] == "parameter_invalid"
    r = api.post("/v1/ledger/transfers/batch", json={"transfers": [], "other": 1})
    assert error_of(r, 400)["code"] == "parameter_invalid"


def test_full_batch_of_8190(api: TestClient) -> None:
    cash, sales = _account(api, "cash")["id"], _account(api, "sales")["id"]
    batch = [
        {
            "id": f"t{i}",
            "debit_account": cash,
            "credit_account": sales,
            "amount": 1,
            "currency": "usd",
        }
        for i in range(MAX_BATCH)
    ]
    r = api.post("/v1/ledger/transfers/batch", json={"transfers": batch})
    assert r.status_code == 200, r.text
    assert all(x["status"] == "created" for x in r.json()["data"])
    assert api.get(f"/v1/ledger/accounts/{sales}").json()["credits_posted"] == MAX_BATCH


def test_other_merchants_see_nothing(
    api: TestClient, client: TestClient, new_merchant: Any
) -> None:
    cash, sales = _account(api, "cash")["id"], _account(api, "sales")["id"]
    api.post(
        "/v1/ledger/transfers",
        data={
            "id": "mine",
            "debit_account": cash,
            "credit_account": sales,
            "amount": 5,
            "currency": "usd",
        },
    )
    _pay(api, 1000)
    other: Merchant = new_merchant("Other")
    h = other.headers
    assert (
        error_of(client.get(f"/v1/ledger/accounts/{cash}", headers=h), 404)["code"]
        == "resource_missing"
    )
    assert (
        error_of(client.get("/v1/ledger/transfers/mine", headers=h), 404)["code"]
        == "resource_missing"
    )
    assert client.get("/v1/ledger/accounts", headers=h).json()["data"] == []
    assert client.get("/v1/balance_transactions", headers=h).json()["data"] == []
    assert client.get("/v1/balance", headers=h).json()["pending"] == []
    # Their transfer naming my accounts is refused as "not found" and moves nothing.
    r = client.post(
        "/v1/ledger/transfers",
        headers=h,
        data={
            "id": "x",
            "debit_account": cash,
            "credit_account": sales,
            "amount": 5,
            "currency": "usd",
        },
    )
    assert error_of(r, 400)["code"] == "debit_account_not_found"
    assert api.get(f"/v1/ledger/accounts/{cash}").json()["debits_posted"] == 5


def test_balance_and_balance_transactions(api: TestClient) -> None:
    assert (
        api.post("/v1/ledger/fees", data={"percent_bps": 100, "fixed_amount": 10}).status_code
        == 200
    )
    pi = _pay(api, 3000)
    r = api.post("/v1/refunds", data={"payment_intent": pi, "amount": 500})
    assert r.status_code == 200, r.text
    re_id = r.json()["id"]
    bal = api.get("/v1/balance").json()
    assert bal["object"] == "balance"
    fee = 30 + 10
    assert bal["pending"] == [
        {"amount": 3000 - fee - 500, "currency": "usd", "source_types": {"card": 3000 - fee - 500}}
    ]
    assert bal["available"][0]["amount"] == 0
    txns = api.get("/v1/balance_transactions").json()
    assert txns["object"] == "list"
    refund_txn, charge_txn = txns["data"]
    assert (charge_txn["type"], charge_txn["amount"], charge_txn["fee"], charge_txn["net"]) == (
        "charge",
        3000,
        fee,
        3000 - fee,
    )
    assert charge_txn["source"] == pi
    assert charge_txn["status"] == "pending"
    assert charge_txn["fee_details"][0]["amount"] == fee
    assert (refund_txn["type"], refund_txn["amount"], refund_txn["source"]) == (
        "refund",
        -500,
        re_id,
    )
    assert charge_txn["id"].startswith("txn_")
    assert api.get(f"/v1/balance_transactions/{charge_txn['id']}").json() == charge_txn
    only = api.get("/v1/balance_transactions", params={"type": "charge"}).json()["data"]
    assert [t["id"] for t in only] == [charge_txn["id"]]
    page = api.get("/v1/balance_transactions", params={"limit": 1}).json()
    assert page["has_more"] is True
    nxt = api.get(
        "/v1/balance_transactions", params={"limit": 1, "starting_after": page["data"][0]["id"]}
    ).json()
    assert [t["id"] for t in nxt["data"]] == [charge_txn["id"]]
    assert error_of(api.get("/v1/balance_transactions/txn_nope"), 404)["code"] == "resource_missing"
    r = api.get("/v1/balance_transactions", params={"starting_after": "txn_nope"})
    assert error_of(r, 404)["param"] == "starting_after"


def test_balance_transactions_pagination(api: TestClient) -> None:
    """Stripe's list semantics: newest first, starting_after/ending_before by txn id,
    has_more on either side, a missing cursor is a 404 naming its parameter."""
    for amount in (1000, 2000, 3000):
        _pay(api, amount)
    everything = api.get("/v1/balance_transactions").json()
    ids = [t["id"] for t in everything["data"]]
    assert [t["amount"] for t in everything["data"]] == [3000, 2000, 1000]
    assert everything["has_more"] is False
    first = api.get("/v1/balance_transactions", params={"limit": 2}).json()
    assert ([t["id"] for t in first["data"]], first["has_more"]) == (ids[:2], True)
    after = api.get(
        "/v1/balance_transactions", params={"limit": 2, "starting_after": ids[1]}
    ).json()
    assert ([t["id"] for t in after["data"]], after["has_more"]) == (ids[2:], False)
    before = api.get(
        "/v1/balance_transactions", params={"limit": 1, "ending_before": ids[2]}
    ).json()
    assert ([t["id"] for t in before["data"]], before["has_more"]) == ([ids[1]], True)
    before = api.get(
        "/v1/balance_transactions", params={"limit": 5, "ending_before": ids[2]}
    ).json()
    assert ([t["id"] for t in before["data"]], before["has_more"]) == (ids[:2], False)
    for param in ("starting_after", "ending_before"):
        err = error_of(api.get("/v1/balance_transactions", params={param: "txn_nope"}), 404)
        assert (err["param"], err["message"]) == (
            param,
            "No such balance transaction: 'txn_nope'",
        )


def test_fees_api(api: TestClient) -> None:
    listed = api.get("/v1/ledger/fees").json()["data"]
    assert listed == [
        {
            "object": "ledger.fee_schedule",
            "currency": "*",
            "percent_bps": 0,
            "fixed_amount": 0,
            "source": "default",
        }
    ]
    r = api.post(
        "/v1/ledger/fees", data={"currency": "EUR", "percent_bps": 150, "fixed_amount": 25}
    )
    assert r.json()["currency"] == "eur"
    assert (
        error_of(api.post("/v1/ledger/fees", data={"percent_bps": 10001}), 400)["param"]
        == "percent_bps"
    )
    assert (
        error_of(api.post("/v1/ledger/fees", data={"currency": "zzz", "percent_bps": 1}), 400)[
            "code"
        ]
        == "invalid_currency"
    )
    currencies = {f["currency"] for f in api.get("/v1/ledger/fees").json()["data"]}
    assert currencies == {"eur", "*"}
