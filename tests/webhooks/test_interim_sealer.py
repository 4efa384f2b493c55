from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from strongbox.webhooks.interim_sealer import AesGcmSealer, SealingError, load_or_create_key


def test_round_trip_and_self_describing_format() -> None:
    s = AesGcmSealer(os.urandom(32))
    sealed = s.seal(b"whsec_abc", b"acct_1|we_1|secret")
    assert sealed[0] == 1
    assert len(sealed) == 1 + 12 + len(b"whsec_abc") + 16
    assert b"whsec_abc" not in sealed
    assert s.unseal(sealed, b"acct_1|we_1|secret") == b"whsec_abc"
    assert s.seal(b"x", b"a") != s.seal(b"x", b"a")  # fresh nonce each time


def test_wrong_aad_tampering_and_wrong_key_fail() -> None:
    key = os.urandom(32)
    s = AesGcmSealer(key)
    sealed = s.seal(b"secret", b"acct_1|we_1|secret")
    with pytest.raises(SealingError):
        s.unseal(sealed, b"acct_2|we_1|secret")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealingError):
        s.unseal(flipped, b"acct_1|we_1|secret")
    with pytest.raises(SealingError):
        AesGcmSealer(os.urandom(32)).unseal(sealed, b"acct_1|we_1|secret")
    with pytest.raises(SealingError):
        s.unseal(b"\x02" + sealed[1:], b"acct_1|we_1|secret")


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sealing.key"
    k1 = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == k1
    a = AesGcmSealer.from_settings(None, tmp_path / "data")
    b = AesGcmSealer.from_settings(None, tmp_path / "data")
    assert b.unseal(a.seal(b"v", b"x"), b"x") == b"v"


def test_master_key_setting_wins_and_is_validated(tmp_path: Path) -> None:
    key = os.urandom(32)
    s = AesGcmSealer.from_settings(base64.b64encode(key).decode(), tmp_path)
    assert AesGcmSealer(key).unseal(s.seal(b"v", b"x"), b"x") == b"v"
    assert not (tmp_path / "sealing.key").exists()
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmSealer.from_settings(base64.b64encode(b"short").decode(), tmp_path)
    with pytest.raises(ValueError, match="base64"):
        AesGcmSealer.from_settings("not base64!!", tmp_path)
    assert "key=" in repr(s)
    assert key.hex() not in repr(s)
