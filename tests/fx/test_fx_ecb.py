"""The ECB's XML format, and documents that are not it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from fx_helpers import DAY1, DAY2, ecb_xml

from strongbox.fx import ecb


def test_daily_and_history_documents() -> None:
    (one,) = ecb.parse(ecb_xml(DAY1))
    assert (one.source, one.base, one.day) == ("ecb", "eur", date(2026, 12, 3))
    assert one.rates == {
        "usd": Decimal("1.0523"),
        "jpy": Decimal("158.12"),
        "gbp": Decimal("0.83145"),
        "kwd": Decimal("0.3245"),
        "eur": Decimal(1),
    }
    hist = ecb.parse(ecb_xml({**DAY2, **DAY1}))  # newest first, as the history files are
    assert [d.day for d in hist] == [date(2026, 12, 3), date(2026, 12, 4)]


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("not xml", "not XML"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "not XML"),
        (ecb_xml({"2026-12-03": {"USD": "abc"}}), "not a number"),
        (ecb_xml({"2026-12-03": {"USD": "-1"}}), "not positive"),
        (ecb_xml({"2026-12-03": {"XYZ": "1"}}), "unknown currency"),
        (ecb_xml({"yesterday": {"USD": "1"}}), "bad time"),
        (ecb_xml({}), "no day"),
        ("<a/>", "no <Cube>"),
    ],
)
def test_other_documents_are_refused(doc: str, match: str) -> None:
    with pytest.raises(ecb.RatesUnreadable, match=match):
        ecb.parse(doc)
