"""Sealing: authenticated encryption of small secrets that other domains must store.

Webhook signing secrets, connector credentials and similar values must be stored, because
they are used again, but never readable at rest. Domains depend only on the ``Sealer``
protocol; the vault provides the production implementation (envelope encryption under a
key-encryption key), wired as ``runtime.sealer`` by the composition root.

``aad`` binds a sealed value to its owner and purpose (for example ``merchant_id|we_…``), so
a ciphertext copied to another row does not open.
"""

from __future__ import annotations

from typing import Protocol


class Sealer(Protocol):
    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``; the result is self-describing (key version)."""
        ...

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt a value sealed with the same ``aad``; raises if it was altered."""
        ...
