"""The database holds the ledger's invariants by itself, and ``ledger verify`` notices tampering.

Raw SQL goes around the service: the triggers and CHECK constraints must refuse it. To
tamper anyway, the tests switch triggers off for their own connection (SQLite: drop the
trigger; PostgreSQL: ``session_replication_role = replica``) and then expect
``strongbox ledger verify`` to fail, naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledger.helpers import account, post
from strongbox.cli.ledger import run_verify
from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.ledger.handlers import capture_id
from strongbox.ledger.models import DEBITS_MUST_NOT_EXCEED_CREDITS
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant

REFUSED = (sa.exc.IntegrityError, sa.exc.OperationalError, sa.exc.InternalError, sa.exc.DBAPIError)


@contextmanager
def raw(runtime: Runtime, *, bypass: bool = False) -> Iterator[sa.Connection]:
    """A connection outside the service; ``bypass`` switches the ledger's triggers off."""
    with runtime.db.engine.connect() as conn:
        if bypass and runtime.db.is_sqlite:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS ledger_transfers_no_update"))
            conn.execute(sa.text("DROP TRIGGER IF EXISTS ledger_slots_debit_limit"))
        elif bypass:
            conn.execute(sa.text("SET session_replication_role = replica"))
        try:
            yield conn
            conn.commit()
        finally:
            conn.rollback()
            if bypass and not runtime.db.is_sqlite:
                conn.execute(sa.text("SET session_replication_role = DEFAULT"))
                conn.commit()


def _fund(runtime: Runtime, merchant: Merchant) -> tuple[str, str]:
    cash = account(runtime, merchant.id, "cash")
    wallet = account(runtime, merchant.id, "wallet", flags=DEBITS_MUST_NOT_EXCEED_CREDITS)
    (res,) = post(
        runtime,
        merchant.id,
        T(id="fund", debit_account_id=cash, credit_account_id=wallet, amount=100, currency="usd"),
    )
    assert res.ok
    return cash, wallet


def _refused(runtime: Runtime, sql: str, **params: Any) -> str:
    with raw(runtime) as conn, pytest.raises(REFUSED) as exc:
        conn.execute(sa.text(sql), params)
    return str(exc.value)


def test_transfers_cannot_be_updated_or_deleted(runtime: Runtime, merchant: Merchant) -> None:
    _fund(runtime, merchant)
    assert "append-only" in _refused(runtime, "UPDATE ledger_transfers SET amount = 1")
    assert "append-only" in _refused(runtime, "DELETE FROM ledger_transfers")
    assert "append-only" in _refused(runtime, "DELETE FROM ledger_accounts")
    assert "append-only" in _refused(runtime, "DELETE FROM ledger_balance_slots")
    assert "cannot change" in _refused(runtime, "UPDATE ledger_accounts SET currency = 'eur'")
    assert "cannot change" in _refused(runtime, "UPDATE ledger_accounts SET flags = 0")
    assert run_verify(runtime).ok


def test_check_constraints_and_insert_triggers(runtime: Runtime, merchant: Merchant) -> None:
    cash, wallet = _fund(runtime, merchant)
    eur = account(runtime, merchant.id, "euros", currency="eur")
    row = {
        "id": "raw",
        "txn": "txn_raw",
        "m": merchant.id,
        "d": cash,
        "c": wallet,
        "amount": 5,
        "cur": "usd",
        "kind": "posted",
    }
    sql = (
        "INSERT INTO ledger_transfers (id, txn_id, merchant_id, debit_account_id, "
        "credit_account_id, amount, currency, kind, code, linked, metadata, created) VALUES "
        "(:id, :txn, :m, :d, :c, :amount, :cur, :kind, 'x', false, '{}', CURRENT_TIMESTAMP)"
    )
    assert "amount_positive" in _refused(runtime, sql, **{**row, "amount": 0})
    assert "accounts_differ" in _refused(runtime, sql, **{**row, "c": cash})
    assert "currency" in _refused(runtime, sql, **{**row, "c": eur})
    assert "pending" in _refused(runtime, sql, **{**row, "kind": "void"})
    # Over-debiting an account with a balance flag, straight in the slots.
    over = (
        "UPDATE ledger_balance_slots SET debits_posted = debits_posted + 101 "
        "WHERE account_id = :a AND slot = 0"
    )
    assert "debits would exceed credits" in _refused(runtime, over, a=wallet)


def test_verify_passes_after_payments(api: TestClient, runtime: Runtime) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": 700,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    pi = r.json()["id"]
    assert api.post("/v1/refunds", data={"payment_intent": pi, "amount": 100}).status_code == 200
    report = run_verify(runtime)
    assert report.ok, report.problems
    assert report.payments == 1
    assert report.transfers == 3


def test_verify_finds_a_changed_transfer(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": 700,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    pi = r.json()["id"]
    assert run_verify(runtime).ok
    with raw(runtime, bypass=True) as conn:
        conn.execute(
            sa.text("UPDATE ledger_transfers SET amount = 650 WHERE merchant_id = :m AND id = :id"),
            {"m": merchant.id, "id": capture_id(pi)},
        )
    report = run_verify(runtime)
    messages = [str(p) for p in report.problems]
    assert any(
        p.check == "balances" and "debits_posted is 700" in p.message for p in report.problems
    ), messages
    assert any(p.check == "postings" and pi in p.subject for p in report.problems), messages


def test_verify_finds_a_changed_balance(runtime: Runtime, merchant: Merchant) -> None:
    _cash, wallet = _fund(runtime, merchant)
    with raw(runtime, bypass=True) as conn:
        conn.execute(
            sa.text(
                "UPDATE ledger_balance_slots SET debits_posted = debits_posted + 500 "
                "WHERE account_id = :a"
            ),
            {"a": wallet},
        )
    checks = {p.check for p in run_verify(runtime).problems}
    assert {"balances", "flags", "double_entry"} <= checks


def test_verify_finds_a_missing_posting(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": 700,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    pi = r.json()["id"]
    with raw(runtime, bypass=True) as conn:
        conn.execute(
            sa.text("UPDATE payment_intents SET amount_received = 600 WHERE id = :id"), {"id": pi}
        )
    problems = run_verify(runtime).problems
    assert [p.check for p in problems] == ["postings"]
    assert "amount_received is 600" in problems[0].message


def test_verify_command_exit_codes(
    api: TestClient, runtime: Runtime, settings: Settings, merchant: Merchant
) -> None:
    env = {
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": settings.database_url,
        "STRONGBOX_RUN_WORKERS": "false",
    }
    api.post(
        "/v1/payment_intents",
        data={
            "amount": 700,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    ok = CliRunner().invoke(app, ["ledger", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "ledger OK" in ok.output
    with raw(runtime, bypass=True) as conn:
        conn.execute(
            sa.text("UPDATE ledger_transfers SET amount = amount + 1 WHERE merchant_id = :m"),
            {"m": merchant.id},
        )
    bad = CliRunner().invoke(app, ["ledger", "verify"], env=env)
    assert bad.exit_code == 1
    assert "balances:" in bad.output
    assert "problem(s)" in bad.output
