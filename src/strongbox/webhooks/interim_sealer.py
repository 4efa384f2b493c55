"""An interim ``Sealer``: AES-256-GCM under one 32-byte key.

The vault provides the production envelope sealer; this class keeps the webhooks branch
self-contained and is the one thing to swap at merge. Format (self-describing)::

    version (1 byte, 0x01) | nonce (12 bytes) | ciphertext + tag

The key comes from ``STRONGBOX_MASTER_KEY`` (base64 of 32 bytes) or from ``sealing.key``
in the data directory, created on first use with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
_NONCE = 12


class SealingError(Exception):
    """A sealed value could not be opened (altered, wrong key or wrong AAD)."""


class AesGcmSealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "AesGcmSealer(key='**********')"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < 1 + _NONCE + 16 or sealed[0] != VERSION:
            raise SealingError("unknown sealed format")
        nonce = sealed[1 : 1 + _NONCE]
        try:
            return self._aead.decrypt(nonce, sealed[1 + _NONCE :], aad)
        except InvalidTag:
            raise SealingError("sealed value does not open (altered, wrong key or AAD)") from None

    @classmethod
    def from_settings(cls, master_key: str | None, data_dir: Path) -> AesGcmSealer:
        if master_key:
            try:
                key = base64.b64decode(master_key, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("STRONGBOX_MASTER_KEY must be base64 of 32 bytes") from None
            return cls(key)
        return cls(load_or_create_key(data_dir / "sealing.key"))


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create it (0600, in a 0700 directory) with 32 random bytes."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raw = path.read_bytes().strip()
        key = base64.b64decode(raw, validate=True)
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte key") from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64encode(key) + b"\n")
    return key
