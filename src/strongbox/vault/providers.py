"""Key providers: where key-encryption keys (KEKs) live and where data keys are (un)wrapped.

Two providers pass the same test suite (``tests/vault/test_providers.py``):

- ``local``: KEKs in a keyring file (mode 0600) under the data directory, created at first
  start, or a single KEK from ``STRONGBOX_MASTER_KEY``. Wrapping is AES-256-GCM in-process.
- ``pkcs11``: KEKs generated inside a PKCS#11 token (an HSM; tested with SoftHSM2) as
  non-extractable, sensitive AES-256 keys; data keys are wrapped and unwrapped by the token
  (``CKM_AES_KEY_WRAP_PAD``, RFC 5649). The KEK never leaves the token.

Data keys are 32 random bytes. Providers never see records, only key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from strongbox.core.errors import ApiError
from strongbox.core.secret import Secret
from strongbox.vault import crypto

KEK_LABEL_PREFIX = "strongbox-kek-"


class KeyProviderError(ApiError):
    """The key provider is unavailable or misconfigured (never carries key material)."""

    status = 503
    default_code = "vault_unavailable"


class KeyProvider(Protocol):
    name: str

    def create_kek(self, version: int) -> str:
        """Create KEK ``version`` and return its label (idempotent for an existing version)."""
        ...

    def has_kek(self, label: str) -> bool: ...

    def wrap(self, label: str, key: bytes) -> bytes:
        """Wrap a 32-byte data key under the KEK ``label``."""
        ...

    def unwrap(self, label: str, wrapped: bytes) -> bytes:
        """The data key wrapped by ``wrap``; raises ``KeyProviderError`` if it fails."""
        ...

    def destroy_kek(self, label: str) -> None:
        """Destroy a KEK that wraps nothing any more."""
        ...

    def close(self) -> None: ...


def _label(version: int) -> str:
    return f"{KEK_LABEL_PREFIX}{version}"


def parse_master_key(value: str) -> bytes:
    """``STRONGBOX_MASTER_KEY``: 32 bytes as base64 (standard or URL-safe) or 64 hex digits."""
    raw = value.strip()
    key: bytes | None = None
    if len(raw) == 64:
        with contextlib.suppress(ValueError):
            key = bytes.fromhex(raw)
    if key is None:
        try:
            key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            key = None
    if key is None or len(key) != crypto.KEY_BYTES:
        raise KeyProviderError(
            "STRONGBOX_MASTER_KEY must be 32 bytes, base64- or hex-encoded.",
            code="vault_misconfigured",
        )
    return key


class LocalKeyProvider:
    """KEKs in a 0600 JSON keyring file, or one KEK from ``STRONGBOX_MASTER_KEY``."""

    name = "local"
    MASTER_LABEL = "master"

    def __init__(self, keyring_path: Path, master_key: Secret[str] | None = None) -> None:
        self.path = keyring_path
        self._master = parse_master_key(master_key.reveal()) if master_key is not None else None
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"LocalKeyProvider(path={str(self.path)!r})"

    # -- keyring file

    def _read(self) -> dict[str, bytes]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw)
            return {label: base64.b64decode(v) for label, v in doc["keks"].items()}
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise KeyProviderError(
                "The vault keyring file is unreadable.", code="vault_misconfigured"
            ) from None

    def _write(self, keys: dict[str, bytes]) -> None:
        doc = {"format": 1, "keks": {k: base64.b64encode(v).decode() for k, v in keys.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(doc).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def _file_lock(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _key(self, label: str) -> bytes:
        if self._master is not None and label == self.MASTER_LABEL:
            return self._master
        key = self._keys.get(label)
        if key is None:
            with self._lock:
                self._keys = self._read()  # another process may have rotated
            key = self._keys.get(label)
        if key is None:
            raise KeyProviderError(
                "A key-encryption key is missing from the vault keyring.",
                code="vault_key_missing",
            )
        return key

    # -- KeyProvider

    def create_kek(self, version: int) -> str:
        if self._master is not None:
            if version != 1:
                raise KeyProviderError(
                    "The key-encryption key comes from STRONGBOX_MASTER_KEY and cannot be "
                    "rotated by Strongbox; use a keyring file or an HSM to rotate it.",
                    code="vault_kek_rotation_unsupported",
                )
            return self.MASTER_LABEL
        label = _label(version)
        with self._lock, self._file_lock():
            keys = self._read()
            if label not in keys:
                keys[label] = crypto.new_key()
                self._write(keys)
            self._keys = keys
        return label

    def has_kek(self, label: str) -> bool:
        try:
            self._key(label)
        except KeyProviderError:
            return False
        return True

    def wrap(self, label: str, key: bytes) -> bytes:
        return crypto.encrypt(self._key(label), key, b"strongbox-kek|" + label.encode())

    def unwrap(self, label: str, wrapped: bytes) -> bytes:
        try:
            return crypto.decrypt(self._key(label), wrapped, b"strongbox-kek|" + label.encode())
        except crypto.DecryptionError:
            raise KeyProviderError(
                "A data key did not unwrap under its key-encryption key.",
                code="vault_key_invalid",
            ) from None

    def destroy_kek(self, label: str) -> None:
        if label == self.MASTER_LABEL:
            return
        with self._lock, self._file_lock():
            keys = self._read()
            if keys.pop(label, None) is not None:
                self._write(keys)
            self._keys = keys

    def close(self) -> None:
        self._keys = {}


class Pkcs11KeyProvider:
    """KEKs inside a PKCS#11 token: generated there, non-extractable, wrapping there."""

    name = "pkcs11"

    def __init__(
        self,
        module: str,
        token_label: str,
        pin: Secret[str],
        label_prefix: str = KEK_LABEL_PREFIX,
    ) -> None:
        import pkcs11

        self._pkcs11 = pkcs11
        self.module = module
        self.token_label = token_label
        self.label_prefix = label_prefix
        self._shared = _open_shared(module, token_label, pin)
        self._session = self._shared.session
        self._lock = self._shared.lock
        self._keks: dict[str, Any] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"Pkcs11KeyProvider(module={self.module!r}, token={self.token_label!r})"

    def _find(self, label: str) -> Any | None:
        p = self._pkcs11
        kek = self._keks.get(label)
        if kek is not None:
            return kek
        try:
            kek = self._session.get_key(
                object_class=p.ObjectClass.SECRET_KEY, key_type=p.KeyType.AES, label=label
            )
        except p.NoSuchKey:
            return None
        self._keks[label] = kek
        return kek

    def _kek(self, label: str) -> Any:
        kek = self._find(label)
        if kek is None:
            raise KeyProviderError(
                "A key-encryption key is missing from the PKCS#11 token.",
                code="vault_key_missing",
            )
        return kek

    def create_kek(self, version: int) -> str:
        p = self._pkcs11
        label = f"{self.label_prefix}{version}"
        with self._lock:
            if self._find(label) is None:
                self._keks[label] = self._session.generate_key(
                    p.KeyType.AES,
                    256,
                    label=label,
                    id=label.encode(),
                    store=True,
                    template={
                        p.Attribute.TOKEN: True,
                        p.Attribute.PRIVATE: True,
                        p.Attribute.SENSITIVE: True,
                        p.Attribute.EXTRACTABLE: False,
                        p.Attribute.WRAP: True,
                        p.Attribute.UNWRAP: True,
                        p.Attribute.ENCRYPT: False,
                        p.Attribute.DECRYPT: False,
                        p.Attribute.SIGN: False,
                        p.Attribute.VERIFY: False,
                        p.Attribute.DERIVE: False,
                    },
                )
        return label

    def has_kek(self, label: str) -> bool:
        with self._lock:
            return self._find(label) is not None

    def wrap(self, label: str, key: bytes) -> bytes:
        p = self._pkcs11
        with self._lock:
            kek = self._kek(label)
            obj = self._session.create_object(
                {
                    p.Attribute.CLASS: p.ObjectClass.SECRET_KEY,
                    p.Attribute.KEY_TYPE: p.KeyType.AES,
                    p.Attribute.VALUE: key,
                    p.Attribute.TOKEN: False,
                    p.Attribute.SENSITIVE: False,
                    p.Attribute.EXTRACTABLE: True,
                }
            )
            try:
                wrapped: bytes = kek.wrap_key(obj, mechanism=p.Mechanism.AES_KEY_WRAP_PAD)
            finally:
                obj.destroy()
        return wrapped

    def unwrap(self, label: str, wrapped: bytes) -> bytes:
        p = self._pkcs11
        with self._lock:
            kek = self._kek(label)
            try:
                obj = kek.unwrap_key(
                    p.ObjectClass.SECRET_KEY,
                    p.KeyType.AES,
                    wrapped,
                    mechanism=p.Mechanism.AES_KEY_WRAP_PAD,
                    template={
                        p.Attribute.TOKEN: False,
                        p.Attribute.SENSITIVE: False,
                        p.Attribute.EXTRACTABLE: True,
                    },
                )
            except p.PKCS11Error:
                raise KeyProviderError(
                    "A data key did not unwrap under its key-encryption key.",
                    code="vault_key_invalid",
                ) from None
            try:
                value: bytes = bytes(obj[p.Attribute.VALUE])
            finally:
                obj.destroy()
        return value

    def destroy_kek(self, label: str) -> None:
        with self._lock:
            kek = self._find(label)
            if kek is not None:
                kek.destroy()
            self._keks.pop(label, None)

    def close(self) -> None:
        with self._lock:
            self._keks.clear()
            if self._closed:
                return
            self._closed = True
        _release_shared(self._shared)


@dataclass
class _SharedSession:
    """PKCS#11 login state is per process, and closing a logged-in session logs every
    session out: providers in one process share one session, reference-counted."""

    key: tuple[str, str]
    session: Any
    lock: threading.RLock = field(default_factory=threading.RLock)
    refs: int = 0


_SHARED: dict[tuple[str, str], _SharedSession] = {}
_SHARED_LOCK = threading.Lock()


def _open_shared(module: str, token_label: str, pin: Secret[str]) -> _SharedSession:
    import pkcs11

    key = (module, token_label)
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            try:
                lib = pkcs11.lib(module)
                token = lib.get_token(token_label=token_label)
                session = token.open(rw=True, user_pin=pin.reveal())
            except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
                raise KeyProviderError(
                    f"The PKCS#11 token could not be opened ({type(exc).__name__}).",
                    code="vault_unavailable",
                ) from None
            shared = _SharedSession(key, session)
            _SHARED[key] = shared
        shared.refs += 1
        return shared


def _release_shared(shared: _SharedSession) -> None:
    with _SHARED_LOCK:
        shared.refs -= 1
        if shared.refs > 0:
            return
        _SHARED.pop(shared.key, None)
        with shared.lock, contextlib.suppress(Exception):
            shared.session.close()
