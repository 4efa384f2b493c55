"""ledger limits: amounts at most 2^53 - 1, balance slots within 2^62 a side, integers only

Revision ID: 0011
Revises: 0010

The database's half of the limits the ledger service checks first (``ledger/transfers.py``):
a transfer's amount is at most ``MAX_AMOUNT``; a balance slot's pending + posted debits, and
its pending + posted credits, are at most ``MAX_BALANCE`` (the service keeps each slot within
its share of the account's limit, so the account stays within it too). On SQLite, where an
integer overflow silently becomes a ``real``, every ledger number must also be stored as an
integer.

PostgreSQL: CHECK constraints, added ``NOT VALID`` (enforced for every new or updated row at
once) and then validated against the rows already there, in a savepoint: if rows written
before the limits break them (the overflow this migration answers), the constraint stays
``NOT VALID`` and the upgrade goes on; ``strongbox ledger verify`` reports those rows.
SQLite cannot add a CHECK to an existing table without rebuilding it (and its triggers), so
the same rules are triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_AMOUNT = 2**53 - 1
MAX_BALANCE = 2**62

PG_UP = [
    f"""ALTER TABLE ledger_transfers ADD CONSTRAINT ck_ledger_transfers_amount_max
        CHECK (amount <= {MAX_AMOUNT}) NOT VALID""",
    f"""ALTER TABLE ledger_balance_slots ADD CONSTRAINT ck_ledger_balance_slots_within_limit
        CHECK (debits_pending::numeric + debits_posted <= {MAX_BALANCE}
               AND credits_pending::numeric + credits_posted <= {MAX_BALANCE}) NOT VALID""",
]
PG_VALIDATE = [
    "ALTER TABLE ledger_transfers VALIDATE CONSTRAINT ck_ledger_transfers_amount_max",
    "ALTER TABLE ledger_balance_slots VALIDATE CONSTRAINT ck_ledger_balance_slots_within_limit",
]
PG_DOWN = [
    "ALTER TABLE ledger_balance_slots DROP CONSTRAINT IF EXISTS "
    "ck_ledger_balance_slots_within_limit",
    "ALTER TABLE ledger_transfers DROP CONSTRAINT IF EXISTS ck_ledger_transfers_amount_max",
]

_SLOT_FIELDS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
_NOT_INTEGER = " OR ".join(f"typeof(NEW.{f}) <> 'integer'" for f in _SLOT_FIELDS)
SQLITE_UP = [
    f"""CREATE TRIGGER ledger_transfers_amount_limit AFTER INSERT ON ledger_transfers
    WHEN typeof(NEW.amount) <> 'integer' OR NEW.amount > {MAX_AMOUNT}
    BEGIN SELECT RAISE(ABORT, 'ledger: an amount is an integer of at most {MAX_AMOUNT}'); END""",
    f"""CREATE TRIGGER ledger_slots_limit AFTER UPDATE ON ledger_balance_slots
    WHEN {_NOT_INTEGER}
      OR NEW.debits_pending + NEW.debits_posted > {MAX_BALANCE}
      OR NEW.credits_pending + NEW.credits_posted > {MAX_BALANCE}
    BEGIN SELECT RAISE(ABORT, 'ledger: a balance is an integer within {MAX_BALANCE} a side');
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS ledger_slots_limit",
    "DROP TRIGGER IF EXISTS ledger_transfers_amount_limit",
]


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    for stmt in PG_UP if pg else SQLITE_UP:
        op.execute(stmt)
    if pg:
        for stmt in PG_VALIDATE:
            try:
                with bind.begin_nested():
                    bind.exec_driver_sql(stmt)
            except sa.exc.DBAPIError:
                pass  # rows from before the limits break it: NOT VALID, for verify to report


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for stmt in PG_DOWN if pg else SQLITE_DOWN:
        op.execute(stmt)
