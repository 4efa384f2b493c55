"""A merchant's own API moves money only between accounts it created (issue 23, item 2).

The accounts the posting rules keep (receivables, pending, available, fees, refunds, reserve)
are written only by those rules. A transfer naming one of them through ``POST
/v1/ledger/transfers`` or the batch endpoint is refused with a Stripe-shaped permission error
(HTTP 403 for a single transfer; the same error object per item in a batch) and changes
nothing: no transfer, no balance, ``ledger verify`` still passes.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.helpers import account, balance, post, system_account
from strongbox.cli.ledger import run_verify
from strongbox.ledger.models import (
    GATEWAY_RECEIVABLE,
    KIND_PENDING,
    MERCHANT_PENDING,
    SYSTEM_PURPOSES,
)
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant, error_of


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


def _state(api: TestClient) -> dict[str, Any]:
    """Everything a refused transfer must leave as it was."""
    accounts = api.get("/v1/ledger/accounts", params={"limit": 100}).json()["data"]
    return {
        "balance": api.get("/v1/balance").json(),
        "accounts": {
            a["id"]: (
                a["debits_pending"],
                a["debits_posted"],
                a["credits_pending"],
                a["credits_posted"],
            )
            for a in accounts
        },
        "transfers": [
            t["id"] for t in api.get("/v1/ledger/transfers", params={"limit": 100}).json()["data"]
        ],
    }


def test_the_reported_exploit_is_refused(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    """The issue's own case: after a payment, gateway_receivable -> merchant_pending."""
    _pay(api, 1000)
    receivable = system_account(runtime, merchant.id, GATEWAY_RECEIVABLE).id
    pending = system_account(runtime, merchant.id, MERCHANT_PENDING).id
    before = _state(api)
    r = api.post(
        "/v1/ledger/transfers",
        data={
            "id": "free-money",
            "debit_account": receivable,
            "credit_account": pending,
            "amount": 1_000_000,
            "currency": "usd",
        },
    )
    err = error_of(r, 403)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "debit_account_reserved"
    assert err["param"] == "debit_account"
    assert _state(api) == before
    assert run_verify(runtime).ok


@pytest.mark.parametrize("purpose", SYSTEM_PURPOSES)
def test_every_system_account_is_refused_on_either_side(
    api: TestClient, runtime: Runtime, merchant: Merchant, purpose: str
) -> None:
    system = system_account(runtime, merchant.id, purpose).id
    own = api.post("/v1/ledger/accounts", data={"purpose": "cash", "currency": "usd"}).json()["id"]
    before = _state(api)
    for kind in ("posted", "pending"):
        for debit, credit, code in (
            (system, own, "debit_account_reserved"),
            (own, system, "credit_account_reserved"),
        ):
            r = api.post(
                "/v1/ledger/transfers",
                data={
                    "id": f"t-{kind}-{code}",
                    "type": kind,
                    "debit_account": debit,
                    "credit_account": credit,
                    "amount": 100,
                    "currency": "usd",
                },
            )
            err = error_of(r, 403)
            assert (err["type"], err["code"]) == ("invalid_request_error", code), err
            assert err["param"] == code.removesuffix("_reserved")
            assert purpose in err["message"]
    assert _state(api) == before
    assert balance(runtime, merchant.id, system).as_tuple() == (0, 0, 0, 0)


@pytest.mark.parametrize("purpose", SYSTEM_PURPOSES)
def test_the_batch_endpoint_refuses_them_per_item(
    api: TestClient, runtime: Runtime, merchant: Merchant, purpose: str
) -> None:
    system = system_account(runtime, merchant.id, purpose).id
    cash = api.post("/v1/ledger/accounts", data={"purpose": "cash", "currency": "usd"}).json()["id"]
    sales = api.post("/v1/ledger/accounts", data={"purpose": "sales", "currency": "usd"}).json()[
        "id"
    ]

    def item(tid: str, debit: str, credit: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": tid,
            "debit_account": debit,
            "credit_account": credit,
            "amount": 7,
            "currency": "usd",
        } | extra

    r = api.post(
        "/v1/ledger/transfers/batch",
        json={
            "transfers": [
                item("ok-1", cash, sales),
                item("bad-debit", system, cash),
                item("chain-a", cash, sales, linked=True),
                item("chain-b", sales, system),  # refused: the whole chain goes
                item("ok-2", sales, cash),
            ]
        },
    )
    assert r.status_code == 200, r.text
    results = r.json()["data"]
    assert [x["status"] for x in results] == ["created", "failed", "failed", "failed", "created"]
    bad = results[1]["error"]
    assert (bad["type"], bad["code"], bad["param"]) == (
        "invalid_request_error",
        "debit_account_reserved",
        "debit_account",  # a rule's error names the field (validation errors: transfers[i][…])
    )
    assert results[2]["error"]["code"] == "linked_event_failed"
    assert results[3]["error"]["code"] == "credit_account_reserved"
    assert results[3]["error"]["param"] == "credit_account"
    assert balance(runtime, merchant.id, system).as_tuple() == (0, 0, 0, 0)
    assert balance(runtime, merchant.id, cash).as_tuple() == (0, 7, 0, 7)
    assert run_verify(runtime).ok


def test_posting_a_stray_hold_on_a_system_account_is_refused(
    runtime: Runtime, merchant: Merchant
) -> None:
    """A pending transfer that touches a system account (written before the rule existed, or by
    a rule) cannot be posted or voided through the merchant's API either."""
    pending = system_account(runtime, merchant.id, MERCHANT_PENDING).id
    cash = account(runtime, merchant.id, "cash")
    (res,) = post(
        runtime,
        merchant.id,
        T(
            id="hold",
            kind=KIND_PENDING,
            debit_account_id=cash,
            credit_account_id=pending,
            amount=5,
            currency="usd",
        ),
        allow_reserved=True,
    )
    assert res.ok
    for kind in ("post", "void"):
        (res,) = post(runtime, merchant.id, T(id=f"resolve-{kind}", kind=kind, pending_id="hold"))
        assert res.error is not None
        assert res.error.code == "credit_account_reserved"
        assert res.error.status == 403
    assert balance(runtime, merchant.id, pending).as_tuple() == (0, 0, 5, 0)


def test_posting_rules_still_write_them(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    _pay(api, 1000)
    pending = system_account(runtime, merchant.id, MERCHANT_PENDING).id
    assert balance(runtime, merchant.id, pending).credits_posted == 1000
    assert run_verify(runtime).ok
