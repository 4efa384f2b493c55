"""One suite for every key provider: local keyring and PKCS#11 (SoftHSM2)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from strongbox.core.secret import Secret
from strongbox.vault import crypto
from strongbox.vault.providers import (
    KeyProvider,
    KeyProviderError,
    LocalKeyProvider,
    parse_master_key,
)
from vault.conftest import pkcs11_provider


def test_wrap_unwrap_round_trip(provider: KeyProvider) -> None:
    label = provider.create_kek(1)
    dek = crypto.new_key()
    wrapped = provider.wrap(label, dek)
    assert dek not in wrapped
    assert provider.unwrap(label, wrapped) == dek
    # Wrapping is not deterministic across keys, and each wrap unwraps to its own key.
    other = crypto.new_key()
    assert provider.unwrap(label, provider.wrap(label, other)) == other


def test_create_kek_is_idempotent_and_versions_differ(provider: KeyProvider) -> None:
    a = provider.create_kek(1)
    assert provider.create_kek(1) == a
    b = provider.create_kek(2)
    assert a != b
    assert provider.has_kek(a)
    assert provider.has_kek(b)
    dek = crypto.new_key()
    wrapped = provider.wrap(a, dek)
    with pytest.raises(KeyProviderError):
        provider.unwrap(b, wrapped)


def test_tampered_wrapped_key_is_rejected(provider: KeyProvider) -> None:
    label = provider.create_kek(1)
    wrapped = bytearray(provider.wrap(label, crypto.new_key()))
    wrapped[-1] ^= 0x01
    with pytest.raises(KeyProviderError) as exc:
        provider.unwrap(label, bytes(wrapped))
    assert exc.value.code == "vault_key_invalid"


def test_destroyed_kek_is_gone(provider: KeyProvider) -> None:
    label = provider.create_kek(1)
    wrapped = provider.wrap(label, crypto.new_key())
    provider.destroy_kek(label)
    assert not provider.has_kek(label)
    with pytest.raises(KeyProviderError) as exc:
        provider.unwrap(label, wrapped)
    assert exc.value.code == "vault_key_missing"


def test_missing_kek_is_reported(provider: KeyProvider) -> None:
    assert not provider.has_kek("no-such-kek")
    with pytest.raises(KeyProviderError):
        provider.wrap("no-such-kek", crypto.new_key())


def test_repr_holds_no_key_material(provider: KeyProvider) -> None:
    label = provider.create_kek(1)
    assert "Provider(" in repr(provider)
    assert label not in repr(provider) or provider.name == "pkcs11"


# ---------------------------------------------------------------- local specifics


def test_local_keyring_file_is_0600_and_shared_between_instances(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keyring.json"
    a = LocalKeyProvider(path)
    label = a.create_kek(1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wrapped = a.wrap(label, b"k" * 32)
    # Another process (here: instance) reads the same keyring, also after a rotation there.
    b = LocalKeyProvider(path)
    assert b.unwrap(label, wrapped) == b"k" * 32
    label2 = a.create_kek(2)
    assert b.unwrap(label2, a.wrap(label2, b"j" * 32)) == b"j" * 32


def test_master_key_provider(tmp_path: Path) -> None:
    key = os.urandom(32)
    for encoded in (
        base64.b64encode(key).decode(),
        key.hex(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
    ):
        p = LocalKeyProvider(tmp_path / "unused.json", Secret(encoded))
        label = p.create_kek(1)
        assert p.unwrap(label, p.wrap(label, b"x" * 32)) == b"x" * 32
        with pytest.raises(KeyProviderError) as exc:
            p.create_kek(2)
        assert exc.value.code == "vault_kek_rotation_unsupported"
    assert not (tmp_path / "unused.json").exists()
    # The same master key opens what another instance wrapped.
    p1 = LocalKeyProvider(tmp_path / "a.json", Secret(key.hex()))
    p2 = LocalKeyProvider(tmp_path / "b.json", Secret(base64.b64encode(key).decode()))
    assert p2.unwrap("master", p1.wrap("master", b"y" * 32)) == b"y" * 32


@pytest.mark.parametrize("bad", ["", "short", "00" * 31, base64.b64encode(b"x" * 16).decode()])
def test_bad_master_key_is_refused_without_echo(bad: str) -> None:
    with pytest.raises(KeyProviderError) as exc:
        parse_master_key(bad)
    assert exc.value.code == "vault_misconfigured"
    if bad:
        assert bad not in exc.value.message


def test_corrupt_keyring_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("{not json")
    with pytest.raises(KeyProviderError):
        LocalKeyProvider(path).create_kek(1)


# ---------------------------------------------------------------- pkcs11 specifics


def test_pkcs11_kek_is_generated_in_the_token_and_not_extractable(softhsm: dict[str, str]) -> None:
    import pkcs11
    from pkcs11 import Attribute

    provider = pkcs11_provider(softhsm)
    label = provider.create_kek(1)
    lib = pkcs11.lib(softhsm["module"])
    token = lib.get_token(token_label=softhsm["token"])
    # The provider's login is per process: this session shares it.
    with token.open() as session:
        key: Any = session.get_key(label=label)
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.TOKEN] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.PKCS11Error):
            key[Attribute.VALUE]  # reading it must fail
    provider.close()


def test_pkcs11_wrong_pin_is_a_clear_error(softhsm: dict[str, str]) -> None:
    from strongbox.vault.providers import Pkcs11KeyProvider

    with pytest.raises(KeyProviderError) as exc:
        Pkcs11KeyProvider(softhsm["module"], softhsm["token"], Secret("0000"))
    assert "0000" not in exc.value.message
    assert exc.value.code == "vault_unavailable"
