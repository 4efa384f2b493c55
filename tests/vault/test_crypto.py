"""Primitive invariants (hypothesis): AEAD round trip, AAD binding, tamper detection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.vault import crypto

KEY = bytes(range(32))


@given(st.binary(max_size=256), st.binary(max_size=64), st.binary(min_size=1, max_size=8))
def test_round_trip_and_aad_binding(plain: bytes, aad: bytes, extra: bytes) -> None:
    blob = crypto.encrypt(KEY, plain, aad)
    assert len(blob) == crypto.NONCE_BYTES + len(plain) + 16
    assert crypto.decrypt(KEY, blob, aad) == plain
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(KEY, blob, aad + extra)


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0))
def test_any_flipped_bit_is_detected(plain: bytes, where: int) -> None:
    blob = bytearray(crypto.encrypt(KEY, plain, b"aad"))
    i = where % len(blob)
    blob[i] ^= 1 << (where % 8)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(KEY, bytes(blob), b"aad")


def test_nonces_are_fresh() -> None:
    nonces = {crypto.encrypt(KEY, b"x", b"")[: crypto.NONCE_BYTES] for _ in range(1000)}
    assert len(nonces) == 1000


def test_derived_keys_differ_by_purpose() -> None:
    a = crypto.derive(KEY, b"fingerprint|acct_a")
    b = crypto.derive(KEY, b"fingerprint|acct_b")
    assert a != b
    assert len(a) == 32
    assert crypto.derive(KEY, b"fingerprint|acct_a") == a
