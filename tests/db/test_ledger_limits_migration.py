"""Migration 0011 (the ledger's limits) on a database that already holds what the limits
forbid: the upgrade goes through, the old rows stay for ``ledger verify`` to report, and new
rows past the limits are refused. On a clean PostgreSQL database the constraints are
validated (a ``NOT VALID`` one would also make SQLAlchemy warn on reflection)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from strongbox.core.settings import normalize_database_url
from strongbox.db.engine import make_engine
from strongbox.db.migrate import upgrade

PG_URL = os.environ.get("STRONGBOX_TEST_DATABASE_URL")
BIG = 2**62  # an amount the API took before the limits


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield eng
        eng.dispose()
        return
    if not PG_URL:
        pytest.skip("STRONGBOX_TEST_DATABASE_URL is unset")
    base = sa.engine.make_url(normalize_database_url(PG_URL))
    name = f"strongbox_mig_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 60
    # template0 takes no connections, so copying it is never refused because another
    # session is using the template (template1 is); the retry covers a server under load
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            break
        except sa.exc.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    eng = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _validated(conn: sa.Connection) -> dict[str, bool]:
    rows = conn.execute(
        sa.text(
            "SELECT conname, convalidated FROM pg_constraint WHERE conname IN "
            "('ck_ledger_transfers_amount_max', 'ck_ledger_balance_slots_within_limit')"
        )
    )
    return {name: bool(ok) for name, ok in rows}


def _seed(conn: sa.Connection) -> None:
    """Two accounts and a transfer of 2^62 between them, as the API allowed before 0011."""
    for acct in ("la_a", "la_b"):
        conn.execute(
            sa.text(
                "INSERT INTO ledger_accounts (id, merchant_id, purpose, currency, flags, slots, "
                "metadata, created) VALUES (:id, 'acct_m', :id, 'usd', 0, 1, '{}', "
                "CURRENT_TIMESTAMP)"
            ),
            {"id": acct},
        )
        conn.execute(
            sa.text("INSERT INTO ledger_balance_slots VALUES (:id, 0, 'acct_m', 0, 0, 0, 0)"),
            {"id": acct},
        )
    conn.execute(
        sa.text(
            "INSERT INTO ledger_transfers (id, txn_id, merchant_id, debit_account_id, "
            "credit_account_id, amount, currency, kind, code, linked, metadata, created) "
            "VALUES ('old', 'txn_old', 'acct_m', 'la_a', 'la_b', :amount, 'usd', 'posted', 'x', "
            "false, '{}', CURRENT_TIMESTAMP)"
        ),
        {"amount": BIG},
    )


def _insert_big(conn: sa.Connection, tid: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO ledger_transfers (id, txn_id, merchant_id, debit_account_id, "
            "credit_account_id, amount, currency, kind, code, linked, metadata, created) "
            "VALUES (:id, :txn, 'acct_m', 'la_a', 'la_b', :amount, 'usd', 'posted', 'x', "
            "false, '{}', CURRENT_TIMESTAMP)"
        ),
        {"id": tid, "txn": f"txn_{tid}", "amount": BIG},
    )


def test_upgrade_over_rows_past_the_limits(engine: sa.Engine) -> None:
    upgrade(engine, "0010")
    with engine.begin() as conn:
        _seed(conn)
    upgrade(engine)  # goes through despite the old row
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT amount FROM ledger_transfers")).scalar() == BIG
        if engine.dialect.name == "postgresql":
            assert _validated(conn) == {
                "ck_ledger_transfers_amount_max": False,  # the old row breaks it
                "ck_ledger_balance_slots_within_limit": True,
            }
    with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError):
        _insert_big(conn, "new")  # but a new one is refused


def test_a_clean_database_gets_validated_constraints(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite holds the limits with triggers")
    upgrade(engine)
    with engine.connect() as conn:
        assert _validated(conn) == {
            "ck_ledger_transfers_amount_max": True,
            "ck_ledger_balance_slots_within_limit": True,
        }
