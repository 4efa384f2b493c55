"""Finding primary account numbers in text: Luhn-valid runs of 13-19 digits, written
together or grouped with single spaces or dashes (``4242 4242 4242 4242``, ``4242-4242-…``).

A run must start with 2-6 (the major brands' ranges: Mastercard 2/5, Amex and Diners 3, Visa
4, Discover and UnionPay 6), which keeps millisecond timestamps (``17…``) and other long
numbers out of the findings. Nothing returned holds the digits: a finding is the run's
position, length and separators only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from strongbox.core.luhn import luhn_valid

_RUN = re.compile(r"(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])")
_SEPARATORS = str.maketrans("", "", " -")


@dataclass(frozen=True, slots=True)
class PanMatch:
    offset: int
    digits: int


def find_pans(text: str) -> list[PanMatch]:
    """Every PAN-shaped, Luhn-valid run in ``text`` (positions only, never the digits)."""
    out: list[PanMatch] = []
    for m in _RUN.finditer(text):
        run = m.group(0)
        digits = run.translate(_SEPARATORS)
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            out.append(PanMatch(m.start(), len(digits)))
    return out


def has_pan(text: str) -> bool:
    return bool(find_pans(text))
