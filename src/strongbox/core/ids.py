"""Prefixed, unguessable identifiers (``pi_…``, ``cus_…``) in Stripe's style."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# 24 base62 characters ≈ 143 bits of randomness.
_LENGTH = 24

PREFIXES = {
    "merchant": "acct",
    "api_key": "key",
    "payment_intent": "pi",
    "payment_method": "pm",
    "attempt": "pa",
    "charge": "ch",
    "refund": "re",
    "customer": "cus",
    "event": "evt",
    "idempotency_key": "idk",
    "request": "req",
    "status_change": "psh",
    "connector_account": "mca",
}


def random_token(length: int = _LENGTH) -> str:
    """``length`` base62 characters from the OS CSPRNG (≈ 5.95 bits each)."""
    # One CSPRNG call, then base62 digits of a big integer: much cheaper than a
    # ``secrets.choice`` per character. 8 extra bytes make the modulo bias negligible.
    n = int.from_bytes(secrets.token_bytes(length * 6 // 8 + 8), "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(out)


def new_id(kind: str) -> str:
    """A new id for an object kind, e.g. ``new_id("payment_intent") -> "pi_3Kx…"``."""
    return f"{PREFIXES[kind]}_{random_token()}"


def has_prefix(value: str, kind: str) -> bool:
    return value.startswith(PREFIXES[kind] + "_")
