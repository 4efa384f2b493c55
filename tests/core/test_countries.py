"""ISO 3166-1 alpha-3 to alpha-2."""

from __future__ import annotations

import pytest

from strongbox.core.countries import ALPHA3_TO_ALPHA2, alpha2


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("USA", "US"),
        ("deu", "DE"),
        ("GBR", "GB"),
        ("CIV", "CI"),
        (" JPN ", "JP"),
        ("US", "US"),  # already alpha-2
        ("Unknown", None),  # Braintree's word for "no data"
        ("XXX", None),  # not assigned
        ("QQ", None),
        ("", None),
        (None, None),
    ],
)
def test_alpha2(code: str | None, expected: str | None) -> None:
    assert alpha2(code) == expected


def test_table_is_the_assigned_codes() -> None:
    assert len(ALPHA3_TO_ALPHA2) == 249
    assert len(set(ALPHA3_TO_ALPHA2.values())) == 249
    assert all(len(a3) == 3 and len(a2) == 2 for a3, a2 in ALPHA3_TO_ALPHA2.items())
