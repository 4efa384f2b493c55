"""An interim ``Sealer`` (AES-256-GCM) until the vault's envelope-encryption sealer lands.

Format of a sealed value: one version byte (``0x01``), a 12-byte random nonce, then the
AES-GCM ciphertext with its 16-byte tag. ``aad`` is authenticated, not stored.

The key is 32 bytes: ``STRONGBOX_MASTER_KEY`` (base64 or hex), or a ``sealing.key`` file in
the data directory, created with mode 0600 on first use. The lead replaces this class with
the vault's sealer at merge; only ``runtime.py`` constructs it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
NONCE_BYTES = 12
KEY_FILE = "sealing.key"


class SealingError(Exception):
    """A sealed value could not be opened (altered, wrong key or wrong owner)."""


def _decode_key(text: str) -> bytes:
    text = text.strip()
    candidates: list[bytes] = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(text))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(text, validate=True))
    for key in candidates:
        if len(key) == 32:
            return key
    raise ValueError("the master key must be 32 bytes, hex or base64 encoded")


class InterimSealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_environment(cls, data_dir: Path, master_key: str | None = None) -> InterimSealer:
        value = master_key if master_key is not None else os.environ.get("STRONGBOX_MASTER_KEY")
        if value:
            return cls(_decode_key(value))
        return cls(load_or_create_key_file(data_dir / KEY_FILE))

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[0] != VERSION:
            raise SealingError("unsupported sealed value")
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + NONCE_BYTES :], aad)
        except InvalidTag:
            raise SealingError("the sealed value does not open with this key and owner") from None

    def __repr__(self) -> str:
        return "InterimSealer(aes-256-gcm)"


def load_or_create_key_file(path: Path) -> bytes:
    """Read the 32-byte key file, or create it (0600, in a 0700 directory) on first use."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # another process created it first
        return load_or_create_key_file(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
