"""The interim AES-256-GCM sealer: format, owner binding, tampering, key sources."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from strongbox.connectors.interim_sealer import InterimSealer, SealingError


def test_roundtrip_format_and_owner_binding(tmp_path: Path) -> None:
    sealer = InterimSealer.from_environment(tmp_path / "data", master_key=None)
    sealed = sealer.seal(b'{"api_key": "sk_test_x"}', b"acct_1|mca_1")
    assert sealed[0] == 1
    assert len(sealed) == 1 + 12 + len(b'{"api_key": "sk_test_x"}') + 16
    assert b"sk_test_x" not in sealed
    assert sealer.unseal(sealed, b"acct_1|mca_1") == b'{"api_key": "sk_test_x"}'
    with pytest.raises(SealingError):
        sealer.unseal(sealed, b"acct_2|mca_1")  # copied to another owner: does not open
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealingError):
        sealer.unseal(tampered, b"acct_1|mca_1")
    with pytest.raises(SealingError):
        sealer.unseal(b"\x02" + sealed[1:], b"acct_1|mca_1")
    assert sealer.seal(b"x", b"a") != sealer.seal(b"x", b"a")  # fresh nonce each time


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = InterimSealer.from_environment(data, master_key=None)
    key_file = data / "sealing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = InterimSealer.from_environment(data, master_key=None)
    assert again.unseal(first.seal(b"v", b"aad"), b"aad") == b"v"


def test_master_key_from_settings(tmp_path: Path) -> None:
    key = os.urandom(32)
    a = InterimSealer.from_environment(tmp_path, master_key=key.hex())
    import base64

    b = InterimSealer.from_environment(tmp_path, master_key=base64.b64encode(key).decode())
    assert b.unseal(a.seal(b"v", b"aad"), b"aad") == b"v"
    assert not (tmp_path / "sealing.key").exists()
    with pytest.raises(ValueError, match="32 bytes"):
        InterimSealer.from_environment(tmp_path, master_key="abcd")
    assert "key" not in repr(a).lower().replace("aes", "")
