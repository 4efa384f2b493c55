"""TLS contexts for mutual TLS between Strongbox's processes (one policy, both ends).

TLS 1.2 or newer (OpenSSL negotiates 1.3 when both ends can); for 1.2, ECDHE key exchange
with AES-GCM or ChaCha20-Poly1305 only; no compression. Servers require a client certificate
issued by the installation's CA (``ssl.CERT_REQUIRED``); with ``crl`` they also check the
leaf against the CA's revocation list during the handshake (the list is read once, when the
context is made: restart to apply a later revocation).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final

CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(
    cert: Path, key: Path, client_ca: Path, crl: Path | None = None
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=str(client_ca))
    if crl is not None:
        ctx.load_verify_locations(cafile=str(crl))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A client that presents ``cert`` and trusts only servers certified by ``ca``."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.load_cert_chain(cert, key)
    return ctx
