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
    "audit_entry": "aud",
    "ledger_account": "la",
    "balance_transaction": "txn",
    "merchant_origin": "mo",
    # vault
    "subject_key": "vsk",
    # webhooks (issue 7)
    "webhook_endpoint": "we",
    "webhook_delivery": "whd",
    "webhook_attempt": "wha",
    "inbound_account": "iwa",
    "inbound_event": "iwe",
    "dispute": "dp",
    "connector_account": "mca",
    # reconciliation (issue 25)
    "report_import": "rpi",
    "reconciliation_run": "rcr",
    "reconciliation_exception": "rcx",
    "integrity_seal": "seal",
    # bank data (issue 20)
    "financial_connections_session": "fcsess",
    "financial_connections_account": "fca",
    "financial_connections_transaction": "fctxn",
    "transaction_refresh": "fctxnref",
    "bank_item": "fcitem",
    "bank_webhook_event": "bwe",
    # OAuth2 (issue 17, part B)
    "oauth_client": "oac",
    "oauth_code": "oacode",
    "oauth_refresh_token": "oart",
    "oauth_token_family": "oafam",
    "oauth_signing_key": "oakey",
    "oauth_access_token": "oat",
    # operators and access (issue 17)
    "operator": "op",
    "operator_session": "opsess",
    "recovery_code": "oprc",
    "webauthn_credential": "opwa",
    "invitation": "opinv",
    "access_grant": "agr",
    # settlement and payouts (issue 19)
    "settlement_window": "stw",
    "settlement_batch": "stb",
    "payout": "po",
    "privacy_request": "dsr",
    # compliance (issue 18)
    "compliance_report": "cpr",
    "vulnerability_scan": "vscan",
}


# Bytes 0..247 map to base62 digits without bias (248 = 4 x 62); 248..255 are dropped.
_B62_TABLE = bytes(ord(_ALPHABET[b % 62]) if b < 248 else 0 for b in range(256))
_B62_DROP = bytes(range(248, 256))


def random_token(length: int = _LENGTH) -> str:
    """``length`` base62 characters from the OS CSPRNG (≈ 5.95 bits each): one CSPRNG read,
    its bytes mapped to digits by a table at C speed, the few that would bias it dropped."""
    digits = secrets.token_bytes(length + 8).translate(_B62_TABLE, _B62_DROP)
    while len(digits) < length:  # more than 8 of length + 8 bytes dropped: rare
        digits += secrets.token_bytes(length).translate(_B62_TABLE, _B62_DROP)
    return digits[:length].decode("ascii")


def new_id(kind: str) -> str:
    """A new id for an object kind, e.g. ``new_id("payment_intent") -> "pi_3Kx…"``."""
    return f"{PREFIXES[kind]}_{random_token()}"


def has_prefix(value: str, kind: str) -> bool:
    return value.startswith(PREFIXES[kind] + "_")


def new_ids(kind: str, n: int) -> list[str]:
    """``n`` new ids at once (one CSPRNG read, C-speed base62), for bulk writes."""
    need = n * _LENGTH
    digits = b""
    while len(digits) < need:
        # 248/256 of the bytes survive; ask for a little more than needed.
        digits += secrets.token_bytes((need - len(digits)) * 9 // 8 + 16).translate(
            _B62_TABLE, _B62_DROP
        )
    text = digits.decode("ascii")
    prefix = PREFIXES[kind] + "_"
    return [prefix + text[i * _LENGTH : (i + 1) * _LENGTH] for i in range(n)]
