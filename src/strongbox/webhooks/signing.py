"""Standard Webhooks signatures (spec v1.0.0): v1 HMAC-SHA256 and v1a Ed25519.

Signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``. ``webhook-signature`` is a
space-separated list of ``v1,<base64>`` / ``v1a,<base64>`` values; during a secret rotation
one value per live secret is sent, so receivers holding either secret verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from strongbox.core.secret import Secret

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
ED25519_SECRET_PREFIX = "whsk_"  # noqa: S105
ED25519_PUBLIC_PREFIX = "whpk_"
SECRET_BYTES = 32  # the spec allows 24-64


def new_secret() -> Secret[str]:
    """A fresh ``whsec_…`` secret (base64 of 32 random bytes)."""
    raw = secrets.token_bytes(SECRET_BYTES)
    return Secret(SECRET_PREFIX + base64.b64encode(raw).decode())


def secret_bytes(secret: Secret[str]) -> bytes:
    value = secret.reveal()
    if not value.startswith(SECRET_PREFIX):
        raise ValueError("not a whsec_ secret")
    return base64.b64decode(value[len(SECRET_PREFIX) :])


def new_ed25519_key() -> tuple[Secret[bytes], str]:
    """A new Ed25519 key: the raw private key (to seal) and the ``whpk_…`` public key."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    return Secret(raw), public_key_of(raw)


def public_key_of(private_raw: bytes) -> str:
    pub = Ed25519PrivateKey.from_private_bytes(private_raw).public_key()
    return (
        ED25519_PUBLIC_PREFIX
        + base64.b64encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    )


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """Everything one endpoint signs with right now. Its repr shows no key material."""

    hmac_keys: tuple[bytes, ...]
    ed25519_keys: tuple[Ed25519PrivateKey, ...] = field(default=())

    def __repr__(self) -> str:
        return f"SigningKeys(v1={len(self.hmac_keys)}, v1a={len(self.ed25519_keys)})"


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(keys: SigningKeys, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value."""
    content = signed_content(msg_id, timestamp, body)
    parts = [
        "v1," + base64.b64encode(hmac.new(k, content, hashlib.sha256).digest()).decode()
        for k in keys.hmac_keys
    ]
    parts += ["v1a," + base64.b64encode(k.sign(content)).decode() for k in keys.ed25519_keys]
    return " ".join(parts)


def headers(keys: SigningKeys, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(keys, msg_id, timestamp, body),
    }


def verify_v1(
    secrets_: list[bytes],
    msg_id: str,
    timestamp: str,
    signature_header: str,
    body: bytes,
) -> bool:
    """True if any ``v1`` value matches any of ``secrets_`` (constant-time comparisons)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    content = signed_content(msg_id, ts, body)
    expected = [hmac.new(k, content, hashlib.sha256).digest() for k in secrets_]
    ok = False
    for part in signature_header.split(" "):
        version, _, value = part.partition(",")
        if version != "v1" or not value:
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        for exp in expected:
            ok |= hmac.compare_digest(exp, given)
    return ok
