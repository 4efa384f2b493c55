"""Audit tests start from an empty log.

Building a runtime creates the vault's first keys, and every key operation is audited, so a
fresh runtime already holds a few (not yet integrated) entries. These tests count entries and
name indexes from zero; they drop those start-up entries before anything is integrated.
"""

from __future__ import annotations

import pytest

from support import drop_startup_audit_entries


@pytest.fixture(autouse=True)
def empty_audit_log(request: pytest.FixtureRequest) -> None:
    if "runtime" in request.fixturenames:
        drop_startup_audit_entries(request.getfixturevalue("runtime"))
