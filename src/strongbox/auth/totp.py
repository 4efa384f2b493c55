"""TOTP second factor (RFC 6238 with pyotp): 30-second steps, 6 digits, one step of clock
drift either way. A code is accepted once: the step it matched is stored and a code of that
step or an earlier one is refused (a replay). The seed and the provisioning URI (which holds
it) are ``Secret`` values, shown to the operator once when enrolling."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Final

import pyotp
import segno

from strongbox.core.secret import Secret

STEP_SECONDS: Final = 30
DIGITS: Final = 6
DRIFT_STEPS: Final = 1
ISSUER: Final = "Strongbox"


def new_seed() -> Secret[str]:
    return Secret(pyotp.random_base32(length=32))  # 160 bits, RFC 4226's recommendation


def provisioning_uri(seed: Secret[str], email: str) -> Secret[str]:
    return Secret(pyotp.TOTP(seed.reveal()).provisioning_uri(name=email, issuer_name=ISSUER))


def qr_svg(uri: Secret[str]) -> Secret[str]:
    """The provisioning URI as an SVG QR code (a ``data:`` URI for an ``<img>``)."""
    return Secret(segno.make(uri.reveal(), error="m").svg_data_uri(scale=4))


def code_at(seed: Secret[str], step: int) -> str:
    return pyotp.TOTP(seed.reveal()).generate_otp(step)


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def verify(seed: Secret[str], code: str, last_step: int | None, now: datetime) -> int | None:
    """The step ``code`` matches (drift allowed), or None; never a step ≤ ``last_step``."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = step_of(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(seed, step), code):
            return step
    return None
