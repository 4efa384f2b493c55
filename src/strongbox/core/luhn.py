"""The Luhn (mod 10) check, shared by card validation, the simulator and log redaction."""

from __future__ import annotations

_DOUBLED = str.maketrans("0123456789", "0246813579")


def luhn_valid(number: str) -> bool:
    """True if ``number`` is ASCII digits passing the Luhn check (byte sums minus 48 per
    digit, with the doubled digits mapped by a table: the loop runs in C)."""
    if not number.isascii() or not number.isdigit():
        return False
    rev = number[::-1]
    total = sum(rev[0::2].encode()) + sum(rev[1::2].translate(_DOUBLED).encode())
    return (total - 48 * len(number)) % 10 == 0
