"""``ledger verify`` checks both directions (issue 23, item 3).

Payments against postings: each payment's state (status, ``amount_received``,
``amount_capturable``, its refunds' statuses) must be what its transfers say. Postings
against payments: every transfer on an account the posting rules own must be one of those
rules' transfers, of a payment or refund that exists and whose state expects it. Each
mismatch is named (the payment or refund, and the transfer).

Tampering goes around the service with the triggers off, as in ``test_database_invariants``.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ledger.helpers import account, post, system_account
from ledger.test_database_invariants import raw
from strongbox.cli.ledger import run_verify
from strongbox.ledger.handlers import (
    authorization_id,
    capture_id,
    fee_id,
    refund_id,
    refund_post_id,
    void_id,
)
from strongbox.ledger.models import FEES, GATEWAY_RECEIVABLE, MERCHANT_PENDING, REFUNDS
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant


def _pay(api: TestClient, amount: int = 1000, *, manual: bool = False) -> str:
    """A payment with a fee (250 bps + 30), so a capture has its fee transfer too."""
    assert (
        api.post("/v1/ledger/fees", data={"percent_bps": 250, "fixed_amount": 30}).status_code
        == 200
    )
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "capture_method": "manual" if manual else "automatic",
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _set(runtime: Runtime, table: str, obj_id: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with raw(runtime, bypass=True) as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {sets} WHERE id = :id"), {"id": obj_id, **values})


def _problems(runtime: Runtime) -> list[str]:
    report = run_verify(runtime)
    return [str(p) for p in report.problems]


def test_the_reported_case_a_succeeded_intent_rewritten(api: TestClient, runtime: Runtime) -> None:
    """Succeeded, then rewritten to requires_payment_method in the database; the capture stays."""
    pi = _pay(api)
    assert run_verify(runtime).ok
    _set(runtime, "payment_intents", pi, status="requires_payment_method")
    problems = _problems(runtime)
    assert problems, "verify passed a payment whose capture has no succeeded payment behind it"
    assert all("postings" in p for p in problems), problems
    assert any(
        pi in p and capture_id(pi) in p and "requires_payment_method" in p for p in problems
    ), problems


@pytest.mark.parametrize(
    "status",
    [
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
        "processing",
        "canceled",
    ],
)
def test_a_capture_needs_a_succeeded_payment(
    api: TestClient, runtime: Runtime, status: str
) -> None:
    pi = _pay(api)
    _set(runtime, "payment_intents", pi, status=status, amount_received=0)
    problems = _problems(runtime)
    assert any(capture_id(pi) in p and status in p for p in problems), problems
    assert any(fee_id(pi) in p for p in problems), problems


def test_an_open_authorization_needs_requires_capture(api: TestClient, runtime: Runtime) -> None:
    pi = _pay(api, manual=True)
    assert run_verify(runtime).ok
    _set(runtime, "payment_intents", pi, status="requires_payment_method", amount_capturable=0)
    problems = _problems(runtime)
    assert any(authorization_id(pi) in p and "requires_payment_method" in p for p in problems), (
        problems
    )


def test_a_void_needs_a_canceled_payment(api: TestClient, runtime: Runtime) -> None:
    pi = _pay(api, manual=True)
    assert api.post(f"/v1/payment_intents/{pi}/cancel").status_code == 200
    assert run_verify(runtime).ok
    _set(runtime, "payment_intents", pi, status="requires_capture", amount_capturable=1000)
    problems = _problems(runtime)
    assert any(void_id(pi) in p and "requires_capture" in p for p in problems), problems


def test_a_succeeded_payment_needs_its_capture(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    """The other way round: the payment says succeeded, the ledger has no capture."""
    pi = _pay(api, manual=True)
    _set(
        runtime,
        "payment_intents",
        pi,
        status="succeeded",
        amount_received=1000,
        amount_capturable=0,
    )
    problems = _problems(runtime)
    assert any(pi in p and "no capture" in p for p in problems), problems
    assert any(authorization_id(pi) in p and "succeeded" in p for p in problems), problems


def test_refund_states_against_their_transfers(api: TestClient, runtime: Runtime) -> None:
    pi = _pay(api)
    r = api.post("/v1/refunds", data={"payment_intent": pi, "amount": 300})
    assert r.status_code == 200, r.text
    re_id = r.json()["id"]
    assert r.json()["status"] == "succeeded"
    assert run_verify(runtime).ok
    _set(runtime, "refunds", re_id, status="failed")
    problems = _problems(runtime)
    assert any(re_id in p and refund_post_id(re_id) in p and "failed" in p for p in problems), (
        problems
    )
    _set(runtime, "refunds", re_id, status="pending")
    problems = _problems(runtime)
    assert any(re_id in p and refund_post_id(re_id) in p and "pending" in p for p in problems), (
        problems
    )


def test_postings_of_payments_that_do_not_exist(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    """A rule's transfers for a payment or refund the payments tables do not have."""
    pi = _pay(api)
    r = api.post("/v1/refunds", data={"payment_intent": pi, "amount": 300})
    re_id = r.json()["id"]
    assert run_verify(runtime).ok
    with raw(runtime, bypass=True) as conn:
        conn.execute(sa.text("DELETE FROM refunds WHERE id = :id"), {"id": re_id})
        conn.execute(sa.text("DELETE FROM payment_intents WHERE id = :id"), {"id": pi})
    problems = _problems(runtime)
    for tid in (capture_id(pi), fee_id(pi), refund_id(re_id), refund_post_id(re_id)):
        assert any(tid in p and "does not exist" in p for p in problems), (tid, problems)


def test_system_account_transfers_not_written_by_a_rule(
    runtime: Runtime, merchant: Merchant
) -> None:
    """What the exploit of item 2 left behind, written before the permission check existed:
    verify names it even though every balance adds up."""
    receivable = system_account(runtime, merchant.id, GATEWAY_RECEIVABLE).id
    pending = system_account(runtime, merchant.id, MERCHANT_PENDING).id
    (res,) = post(
        runtime,
        merchant.id,
        T(
            id="free-money",
            debit_account_id=receivable,
            credit_account_id=pending,
            amount=10**6,
            currency="usd",
        ),
        allow_reserved=True,
    )
    assert res.ok
    problems = _problems(runtime)
    assert any("free-money" in p and "gateway_receivable" in p for p in problems), problems
    checks = {p.check for p in run_verify(runtime).problems}
    assert checks == {"postings"}, problems  # the balances themselves are consistent


def test_rule_ids_with_the_wrong_shape(runtime: Runtime, merchant: Merchant) -> None:
    """Reserved ids must be a rule's own: the right step name and the rule's accounts."""
    receivable = system_account(runtime, merchant.id, GATEWAY_RECEIVABLE).id
    pending = system_account(runtime, merchant.id, MERCHANT_PENDING).id
    fees = system_account(runtime, merchant.id, FEES).id
    refunds = system_account(runtime, merchant.id, REFUNDS).id
    post(
        runtime,
        merchant.id,
        T(
            id="sb.pi_x.bonus",
            debit_account_id=receivable,
            credit_account_id=pending,
            amount=1,
            currency="usd",
        ),
        T(
            id="sb.pi_y.fee",
            debit_account_id=refunds,
            credit_account_id=fees,
            amount=1,
            currency="usd",
            source="pi_y",
        ),
        allow_reserved=True,
    )
    problems = _problems(runtime)
    assert any("sb.pi_x.bonus" in p and "no posting rule" in p for p in problems), problems
    assert any("sb.pi_y.fee" in p and "refunds -> fees" in p for p in problems), problems


def test_the_merchants_own_accounts_need_no_payment(runtime: Runtime, merchant: Merchant) -> None:
    cash, sales = account(runtime, merchant.id, "cash"), account(runtime, merchant.id, "sales")
    (res,) = post(
        runtime,
        merchant.id,
        T(id="sale-1", debit_account_id=cash, credit_account_id=sales, amount=5, currency="usd"),
    )
    assert res.ok
    assert run_verify(runtime).ok


def test_a_clean_ledger_of_every_kind_of_payment_passes(api: TestClient, runtime: Runtime) -> None:
    _pay(api)
    held = _pay(api, manual=True)
    captured = _pay(api, manual=True)
    canceled = _pay(api, manual=True)
    assert (
        api.post(
            f"/v1/payment_intents/{captured}/capture", data={"amount_to_capture": 600}
        ).status_code
        == 200
    )
    assert api.post(f"/v1/payment_intents/{canceled}/cancel").status_code == 200
    assert (
        api.post("/v1/refunds", data={"payment_intent": captured, "amount": 100}).status_code == 200
    )
    report = run_verify(runtime)
    assert report.ok, [str(p) for p in report.problems]
    assert report.payments == 4
    assert held
