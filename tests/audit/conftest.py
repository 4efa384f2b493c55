"""Audit tests start from an empty log.

Building a runtime creates the vault's first keys, and every key operation is audited, so a
fresh runtime would already hold a few entries. These tests count entries and name indexes
from zero, so their runtime starts on a database whose vault keys were created beforehand,
without the audit subscriber (``support.create_vault_keys``).
"""

from __future__ import annotations

import pytest

from strongbox.core.settings import Settings
from support import create_vault_keys


@pytest.fixture
def settings(settings: Settings) -> Settings:
    create_vault_keys(settings)
    return settings
