"""A linked account becomes a ``us_bank_account`` PaymentMethod for a customer: numbers from
Plaid Auth stay sealed on the account, the PaymentMethod shows last4 and the routing number."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from banking.conftest import Bank
from support import Merchant, error_of

PM = "/v1/payment_methods"


def _bank_pm(api: TestClient, fca: str) -> Any:
    return api.post(
        PM,
        data={"type": "us_bank_account", "us_bank_account[financial_connections_account]": fca},
    )


def test_a_linked_account_becomes_a_payment_method_for_a_customer(bank: Bank) -> None:
    api = bank.api
    done = bank.link(("balances", "payment_method"))
    fca = done["accounts"]["data"][0]["id"]
    r = _bank_pm(api, fca)
    assert r.status_code == 200, r.text
    pm = r.json()
    assert pm["id"].startswith("pm_")
    assert pm["type"] == "us_bank_account"
    assert "card" not in pm
    uba = pm["us_bank_account"]
    assert uba["last4"] == "0000"
    assert uba["routing_number"] == "011401533"
    assert uba["financial_connections_account"] == fca
    assert uba["account_type"] == "checking"
    assert "1111222233330000" not in r.text
    cus = api.post("/v1/customers", data={"name": "Ach Customer"}).json()["id"]
    r = api.post(f"{PM}/{pm['id']}/attach", data={"customer": cus})
    assert r.status_code == 200, r.text
    assert r.json()["customer"] == cus
    listed = api.get(PM, params={"customer": cus, "type": "us_bank_account"}).json()["data"]
    assert [p["id"] for p in listed] == [pm["id"]]
    assert api.get(f"{PM}/{pm['id']}").json()["us_bank_account"]["last4"] == "0000"


def test_bad_bank_payment_methods(bank: Bank, client: TestClient, merchant: Merchant) -> None:
    api = bank.api
    done = bank.link(("balances",))  # no payment_method permission: no numbers read
    fca = done["accounts"]["data"][0]["id"]
    assert error_of(_bank_pm(api, fca), 400)["code"] == "account_not_debitable"
    assert error_of(_bank_pm(api, "fca_nope"), 404)["code"] == "resource_missing"
    r = api.post(PM, data={"type": "us_bank_account"})
    assert error_of(r, 400)["param"] == "us_bank_account[financial_connections_account]"
    linked = bank.link(("balances", "payment_method"))["accounts"]["data"]
    r = client.post(
        PM,
        data={
            "type": "us_bank_account",
            "us_bank_account[financial_connections_account]": linked[0]["id"],
        },
        headers={"Authorization": f"Bearer {merchant.publishable_key}"},
    )
    assert r.status_code in (401, 403), r.text
    for a in linked:
        api.post(f"/v1/financial_connections/accounts/{a['id']}/disconnect")
    assert error_of(_bank_pm(api, linked[0]["id"]), 400)["code"] == "account_not_debitable"
