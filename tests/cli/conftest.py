"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import pytest

from strongbox.core.settings import Settings


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str | None]:
    """Environment for the CLI: the test's data dir and database, nothing from the host."""
    return {
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": settings.database_url,  # None (unset) means SQLite
        "STRONGBOX_SIMULATOR_URL": None,
        "STRONGBOX_RUN_WORKERS": "false",
    }
