"""The bank debit's own budget (issue 20): statements, round trips and transactions of a
create-and-confirm with a ``us_bank_account`` PaymentMethod, counted at the driver as the card
path's are (``tests/payments/test_budget.py``, whose numbers this branch leaves unchanged).

[tx 1] the key, the intent, its attempt (the recovery point), the account read to check it
can be debited and its ACH numbers unsealed. [balance check] a read of the account and its
item (the token), the provider's balance, [tx] the balance stored with its event and audit
leaf, a read of the account for the funds check. [gateway] [tx 2] the debit's ``processing``
answer, ``payment_intent.processing`` (outbox, audit) and the response on the key. The
settlement comes later (recovery).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from banking.conftest import Bank
from strongbox.db.trace import Counts, DriverTrace
from strongbox.runtime import Runtime

# Five transactions: phase 1, the balance check's read (account, item), its write (the
# balance, its event and audit leaf), the funds check's read, phase 2. Measured on the tree
# that added the debit (card path: create_confirm 22/22/2 on SQLite, 21/9/2 on PostgreSQL).
# payment_intent.processing (its outbox row and audit leaf) adds 2 statements to phase 2.
BUDGETS = {
    "sqlite": Counts(statements=38, round_trips=38, transactions=5),
    "postgresql": Counts(statements=38, round_trips=24, transactions=5),
}
SAMPLES = 3


def _pm(bank: Bank) -> str:
    fca = bank.link(("balances", "payment_method"))["accounts"]["data"][0]["id"]
    r = bank.api.post(
        "/v1/payment_methods",
        data={"type": "us_bank_account", "us_bank_account[financial_connections_account]": fca},
    )
    pm: str = r.json()["id"]
    return pm


def _pay(api: TestClient, pm: str, n: int) -> Any:
    return api.post(
        "/v1/payment_intents",
        data={
            "amount": "100",
            "currency": "usd",
            "payment_method": pm,
            "payment_method_types[0]": "us_bank_account",
            "confirm": "true",
        },
        headers={"Idempotency-Key": f"ach-budget-{n}"},
    )


def test_a_bank_debit_keeps_to_its_budget(bank: Bank, runtime: Runtime) -> None:
    pm = _pm(bank)
    for i in range(2):  # warm-up: caches, the merchant's first payment
        assert _pay(bank.api, pm, 100 + i).json()["status"] == "processing"
    worst = Counts()
    with DriverTrace(runtime.db.engine) as trace:
        for i in range(SAMPLES):
            before = trace.counts()
            r = _pay(bank.api, pm, i)
            assert r.json()["status"] == "processing", r.text
            used = trace.counts() - before
            worst = Counts(
                max(worst.statements, used.statements),
                max(worst.round_trips, used.round_trips),
                max(worst.transactions, used.transactions),
            )
    budget = BUDGETS[runtime.db.engine.dialect.name]
    assert worst.statements <= budget.statements, worst
    assert worst.round_trips <= budget.round_trips, worst
    assert worst.transactions <= budget.transactions, worst
