"""The European Central Bank's euro foreign exchange reference rates, in its XML format.

``eurofxref-daily.xml`` (one day) and ``eurofxref-hist*.xml`` (many days) share one shape::

    <gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
                     xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
      <Cube><Cube time="2024-03-01"><Cube currency="USD" rate="1.0830"/>…</Cube></Cube>
    </gesmes:Envelope>

A rate is units of the currency per 1 EUR. Rates are kept as the exact decimals the ECB
published (``Decimal``, never float). Parsed with defusedxml (no entities, no DTDs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from strongbox.core.currencies import get_currency

SOURCE: Final = "ecb"
BASE: Final = "eur"
NS: Final = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
DAILY_URL: Final = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"


class RatesUnreadable(ValueError):
    """The document is not the ECB's reference rates format."""


@dataclass(frozen=True, slots=True)
class RateSet:
    """One day's rates of one source: units of each currency per 1 unit of ``base``."""

    source: str
    base: str
    day: date
    rates: dict[str, Decimal] = field(default_factory=dict)


def parse(document: bytes | str) -> list[RateSet]:
    """Every day in the document, oldest first."""
    try:
        root = ElementTree.fromstring(document)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise RatesUnreadable(f"not XML the ECB publishes: {exc}") from None
    outer = root.find(f"{NS}Cube")
    if outer is None:
        raise RatesUnreadable("no <Cube> of rates (is this eurofxref XML?)")
    days: list[RateSet] = []
    for day_cube in outer.findall(f"{NS}Cube"):
        when = day_cube.get("time", "")
        try:
            day = date.fromisoformat(when)
        except ValueError:
            raise RatesUnreadable(f"bad time {when[:20]!r}") from None
        rates: dict[str, Decimal] = {}
        for cube in day_cube.findall(f"{NS}Cube"):
            code, text = cube.get("currency", ""), cube.get("rate", "")
            info = get_currency(code)
            if info is None:
                raise RatesUnreadable(f"{when}: unknown currency {code[:8]!r}")
            try:
                rate = Decimal(text)
            except InvalidOperation:
                raise RatesUnreadable(
                    f"{when}: {code} rate {text[:20]!r} is not a number"
                ) from None
            if not rate.is_finite() or rate <= 0:
                raise RatesUnreadable(f"{when}: {code} rate {text[:20]!r} is not positive")
            rates[info.code.lower()] = rate
        if not rates:
            raise RatesUnreadable(f"{when}: no rates")
        rates[BASE] = Decimal(1)
        days.append(RateSet(SOURCE, BASE, day, rates))
    if not days:
        raise RatesUnreadable("no day of rates")
    return sorted(days, key=lambda r: r.day)
