"""Operator passwords: Argon2id hashes (argon2-cffi), at least 12 characters (PCI DSS
8.3.6), refused when on the shipped list of common passwords or a common word with only
digits and symbols around it."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from strongbox.core.errors import InvalidRequestError
from strongbox.core.secret import Secret

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256
# argon2-cffi's defaults are RFC 9106's second recommendation (Argon2id, 64 MiB, t=3).
_HASHER: Final = PasswordHasher()
_LEET: Final = str.maketrans("@4310$5!7", "aaeiosstt")
_AROUND: Final = re.compile(r"^[\W\d_]*(?P<word>.*?)[\W\d_]*$")


class WeakPasswordError(InvalidRequestError):
    default_code = "password_too_weak"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("strongbox.auth").joinpath("data/common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_strength(password: Secret[str], *, email: str | None = None) -> None:
    """Raise ``WeakPasswordError`` (never echoing the password) unless it is acceptable."""
    value = password.reveal()
    if len(value) < MIN_LENGTH:
        raise WeakPasswordError(
            f"The password must be at least {MIN_LENGTH} characters long.", param="password"
        )
    if len(value) > MAX_LENGTH:
        raise WeakPasswordError(
            f"The password must be at most {MAX_LENGTH} characters long.", param="password"
        )
    if not (any(ch.isalpha() for ch in value) and any(ch.isdigit() for ch in value)):
        raise WeakPasswordError(  # PCI DSS 8.3.6: both numeric and alphabetic characters
            "The password must contain both letters and digits.", param="password"
        )
    lowered = value.lower()
    listed = common_passwords()
    m = _AROUND.match(lowered)
    core = m["word"] if m else lowered
    if (
        lowered in listed
        or core in listed
        or core.translate(_LEET) in listed
        or len(set(lowered)) <= 3
        or (email is not None and _is_email_based(email.lower(), lowered, core))
    ):
        raise WeakPasswordError(
            "This password is too common: choose one that is not a well-known password or a "
            "common word with digits or symbols around it.",
            param="password",
        )


def _is_email_based(email: str, lowered: str, core: str) -> bool:
    return email in lowered or email.split("@")[0] in (lowered, core)


def hash_password(password: Secret[str]) -> str:
    return _HASHER.hash(password.reveal())


def verify_password(stored: str | None, password: Secret[str]) -> bool:
    if stored is None:
        # the same cost as a real check, so timing does not tell which accounts exist
        _HASHER.verify(_dummy_hash(), "not the password")
        return False
    try:
        return _HASHER.verify(stored, password.reveal())
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash("not the password")
