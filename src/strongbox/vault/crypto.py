"""The primitives, all from ``cryptography``: AES-256-GCM, HKDF-SHA256, HMAC-SHA256."""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit random nonce, as NIST SP 800-38D recommends for GCM


class DecryptionError(Exception):
    """A ciphertext did not authenticate (wrong key, wrong AAD, or altered)."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encrypt(key: bytes | AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce || ciphertext+tag`` under AES-256-GCM with a fresh random nonce."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def decrypt(key: bytes | AESGCM, blob: bytes, aad: bytes) -> bytes:
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionError("ciphertext too short")
    try:
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext did not authenticate") from None


def derive(key: bytes, info: bytes) -> bytes:
    """A 256-bit subkey of ``key`` for one purpose (HKDF-SHA256, RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


def mac(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (the one-shot C implementation)."""
    return hmac.digest(key, message, "sha256")
