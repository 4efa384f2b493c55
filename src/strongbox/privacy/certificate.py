"""The certificate of erasure: what was done, when, for which ids, signed with Ed25519 by the
audit log's signing key (the key that signs tree heads, ``audit/heads.py``)."""

from __future__ import annotations

import base64
from typing import Any

from strongbox.audit.heads import Signer, key_id_of, verify_signature
from strongbox.audit.service import canonical


def _signed_part(cert: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in cert.items() if k != "signature"})


def sign_certificate(body: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """``body`` plus ``key_id``, ``public_key`` and ``signature`` (over the canonical JSON of
    everything but the signature)."""
    cert = {
        **body,
        "object": "privacy_erasure_certificate",
        "key_id": signer.key_id,
        "public_key": signer.public_key,
    }
    cert["signature"] = signer.sign(_signed_part(cert))
    return cert


def certificate_valid(cert: dict[str, Any], trusted_keys: set[str] | None = None) -> bool:
    """Whether the signature holds (and, given ``trusted_keys``, the key is one of them)."""
    public_key = cert.get("public_key")
    signature = cert.get("signature")
    if not isinstance(public_key, str) or not isinstance(signature, str):
        return False
    if trusted_keys is not None and public_key not in trusted_keys:
        return False
    try:
        if key_id_of(base64.b64decode(public_key)) != cert.get("key_id"):
            return False
    except ValueError:
        return False
    return verify_signature(public_key, signature, _signed_part(cert))
