"""Posting rules: every payment's money movement becomes balanced transfers, via the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.helpers import balance, system_account
from strongbox.core.errors import LedgerError
from strongbox.ledger.handlers import (
    authorization_id,
    capture_id,
    fee_id,
    refund_id,
    refund_post_id,
    void_id,
)
from strongbox.ledger.models import FEES, GATEWAY_RECEIVABLE, MERCHANT_PENDING, REFUNDS
from strongbox.ledger.service import TransferResult
from strongbox.runtime import Runtime
from support import Merchant, error_of


def _pay(api: TestClient, amount: int, *, manual: bool, currency: str = "usd") -> dict[str, Any]:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "capture_method": "manual" if manual else "automatic",
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _transfers(runtime: Runtime, merchant: Merchant, *ids: str) -> dict[str, Any]:
    with runtime.db.read() as session:
        return runtime.ledger.find_transfers(session, merchant.id, ids)


def _balance(runtime: Runtime, merchant: Merchant, purpose: str) -> tuple[int, int, int, int]:
    info = system_account(runtime, merchant.id, purpose)
    return balance(runtime, merchant.id, info.id).as_tuple()


def test_automatic_capture_posts_the_charge(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _pay(api, 2000, manual=False)
    found = _transfers(runtime, merchant, capture_id(pi["id"]), authorization_id(pi["id"]))
    assert set(found) == {capture_id(pi["id"])}
    cap = found[capture_id(pi["id"])]
    assert (cap.kind, cap.amount, cap.code, cap.source) == ("posted", 2000, "charge", pi["id"])
    assert _balance(runtime, merchant, GATEWAY_RECEIVABLE) == (0, 2000, 0, 0)
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 0, 0, 2000)


def test_authorization_partial_capture_and_fee(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    r = api.post(
        "/v1/ledger/fees", data={"currency": "usd", "percent_bps": 290, "fixed_amount": 30}
    )
    assert r.status_code == 200, r.text
    pi = _pay(api, 5000, manual=True)
    auth = _transfers(runtime, merchant, authorization_id(pi["id"]))[authorization_id(pi["id"])]
    assert (auth.kind, auth.amount) == ("pending", 5000)
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 0, 5000, 0)
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": 4000})
    assert r.status_code == 200, r.text
    found = _transfers(runtime, merchant, capture_id(pi["id"]), fee_id(pi["id"]))
    assert found[capture_id(pi["id"])].kind == "post"
    assert found[capture_id(pi["id"])].amount == 4000
    assert found[fee_id(pi["id"])].amount == 4000 * 290 // 10000 + 30  # 116 + 30
    # The 1000 not captured is released; the fee comes out of the merchant's pending funds.
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 146, 0, 4000)
    assert _balance(runtime, merchant, FEES) == (0, 0, 0, 146)
    assert _balance(runtime, merchant, GATEWAY_RECEIVABLE) == (0, 4000, 0, 0)


def test_cancel_voids_the_authorization(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _pay(api, 3000, manual=True)
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    assert r.status_code == 200, r.text
    found = _transfers(runtime, merchant, void_id(pi["id"]))
    assert found[void_id(pi["id"])].amount == 3000
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 0, 0, 0)


def test_cancel_before_authorization_posts_nothing(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    r = api.post("/v1/payment_intents", data={"amount": 900, "currency": "usd"})
    pi = r.json()["id"]
    assert api.post(f"/v1/payment_intents/{pi}/cancel").status_code == 200
    assert _transfers(runtime, merchant, void_id(pi), authorization_id(pi)) == {}


def test_refunds_are_pending_then_posted(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _pay(api, 2500, manual=False)
    r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": 1000})
    assert r.status_code == 200, r.text
    re_id = r.json()["id"]
    found = _transfers(runtime, merchant, refund_id(re_id), refund_post_id(re_id))
    assert found[refund_id(re_id)].amount == 1000
    assert found[refund_post_id(re_id)].amount == 1000
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 1000, 0, 2500)
    assert _balance(runtime, merchant, REFUNDS) == (0, 0, 0, 1000)
    # A later metadata update of the refund posts nothing new.
    r = api.post(f"/v1/refunds/{re_id}", data={"metadata[k]": "v"})
    assert r.status_code == 200, r.text
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 1000, 0, 2500)


def test_a_failing_posting_aborts_the_payment_write(
    api: TestClient, runtime: Runtime, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    pi = _pay(api, 1200, manual=True)
    original = runtime.ledger.create_transfers

    def refusing(*a: Any, **k: Any) -> list[TransferResult]:
        results = original(*a, **k)
        for res in results:
            res.error = LedgerError("refused by the test", code="exceeds_credits")
        return results

    monkeypatch.setattr(runtime.ledger, "create_transfers", refusing)
    r = api.post(f"/v1/payment_intents/{pi['id']}/cancel")
    monkeypatch.undo()
    err = error_of(r, 500, type_="api_error")
    assert "refused by the test" not in err["message"]
    # Nothing of the cancel's outcome was written: still authorized, the hold still pending.
    got = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert got["status"] == "requires_capture"
    assert got["canceled_at"] is None
    assert _transfers(runtime, merchant, void_id(pi["id"])) == {}
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 0, 1200, 0)


def test_merchants_cannot_resolve_the_holds_of_payments(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = _pay(api, 800, manual=True)
    r = api.post(
        "/v1/ledger/transfers",
        data={"id": "sneaky", "type": "void_pending", "pending_id": authorization_id(pi["id"])},
    )
    assert error_of(r, 400)["code"] == "pending_id_reserved"
    assert _balance(runtime, merchant, MERCHANT_PENDING) == (0, 0, 800, 0)
    r = api.post(f"/v1/payment_intents/{pi['id']}/capture")
    assert r.status_code == 200, r.text
