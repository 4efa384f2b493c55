"""The registry of personal data: every column that may hold personal data is in it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import sqlalchemy as sa

import strongbox
from strongbox.db.base import Base
from strongbox.privacy.locate import Found
from strongbox.privacy.registry import LOCATIONS, NOT_PERSONAL, registered

# Name parts that suggest personal data (the list, plus their common spellings).
PERSONAL_WORDS = frozenset(
    {
        "email",
        "name",
        "phone",
        "address",
        "billing",
        "shipping",
        "metadata",
        "description",
        "payload",
        "ip",
        "details",
        "data",
        "holder",
        "owner",
        "ownership",
        "pii",
        "excerpt",
        "body",
        "message",
        "note",
        "notes",
        "comment",
        "birth",
        "dob",
        "iban",
        "tax",
        "ssn",
        "username",
    }
)


def looks_personal(column: str) -> bool:
    parts = set(re.split(r"[_\W]+", column.lower()))
    return bool(parts & PERSONAL_WORDS)


def all_tables() -> dict[str, sa.Table]:
    """Every table of every ``src/strongbox/*/models.py`` (imported here, so a new domain's
    models count even before db/metadata.py lists them)."""
    root = Path(strongbox.__file__).parent
    for models in sorted(root.glob("*/models.py")):
        importlib.import_module(f"strongbox.{models.parent.name}.models")
    return dict(Base.metadata.tables)


def test_every_column_that_may_hold_personal_data_is_registered() -> None:
    missing = [
        f"{name}.{col.name}"
        for name, table in sorted(all_tables().items())
        for col in table.columns
        if looks_personal(col.name) and not registered(name, col.name)
    ]
    assert not missing, (
        "columns that may hold personal data are not in privacy/registry.py (add a Location, "
        f"or a NOT_PERSONAL entry with the reason): {missing}"
    )


def test_registry_names_only_real_columns() -> None:
    tables = all_tables()
    for loc in LOCATIONS:
        assert loc.table in tables, loc
        assert loc.column in tables[loc.table].columns, loc
    for table, column in NOT_PERSONAL:
        assert column in tables[table].columns, (table, column)


def test_every_registered_table_is_searched() -> None:
    """Each table the registry names is one the locator returns rows of (or keys off)."""
    searched = {
        "customers",
        "payment_methods",
        "payment_intents",
        "refunds",
        "events",
        "inbound_webhook_events",
        "idempotency_keys",
        "audit_entries",
        "bank_accounts",
        "bank_sessions",
        "bank_transactions",
        "vault_subject_keys",
        "vault_cards",
        "vault_cvcs",
    }
    assert {loc.table for loc in LOCATIONS} <= searched
    fields = set(Found().counts())
    for table in searched - {"vault_cvcs"}:
        name = {
            "inbound_webhook_events": "inbound_events",
            "vault_subject_keys": "vault_subject_keys",
        }.get(table, table)
        assert name in fields, table


def test_the_heuristic_catches_a_new_personal_column() -> None:
    """The check would fail for a table that grew, say, ``shipping_address`` or ``notes``."""
    for name in ("shipping_address", "contact_email", "notes", "source_ip", "card_holder"):
        assert looks_personal(name)
        assert not registered("payment_intents", name)
    for name in ("amount", "currency", "status", "created"):
        assert not looks_personal(name)
