"""Vault fixtures: a throw-away SoftHSM2 token, key providers of both kinds."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongbox.core.secret import Secret
from strongbox.vault.providers import KeyProvider, LocalKeyProvider, Pkcs11KeyProvider

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
REQUIRE = os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1"
PIN = "4321"
TOKEN = "strongbox-test"


def _softhsm_missing() -> str | None:
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util not installed (scripts/system-deps installs softhsm2)"
    if not Path(MODULE).exists():
        return f"{MODULE} missing"
    return None


@pytest.fixture(scope="session")
def softhsm() -> Iterator[dict[str, str]]:
    """One SoftHSM2 token for this test process (the library reads its config once)."""
    missing = _softhsm_missing()
    if missing:
        if REQUIRE:
            pytest.fail(f"SoftHSM2 is required in CI: {missing}")
        pytest.skip(missing)
    root = Path(tempfile.mkdtemp(prefix="strongbox-softhsm-"))
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "8765",
        ],
        check=True,
        capture_output=True,
    )
    yield {"module": MODULE, "token": TOKEN, "pin": PIN, "conf": str(conf)}
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
    shutil.rmtree(root, ignore_errors=True)


def pkcs11_provider(softhsm: dict[str, str]) -> Pkcs11KeyProvider:
    # A fresh label prefix per test keeps tests independent inside the one token.
    return Pkcs11KeyProvider(
        softhsm["module"], softhsm["token"], Secret(softhsm["pin"]), f"t-{uuid.uuid4().hex[:12]}-"
    )


@pytest.fixture(params=["local", "pkcs11"])
def provider_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def provider(
    provider_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[KeyProvider]:
    p: Any
    if provider_kind == "local":
        p = LocalKeyProvider(tmp_path / "keyring.json")
    else:
        p = pkcs11_provider(request.getfixturevalue("softhsm"))
    yield p
    p.close()


@pytest.fixture
def vault_runtime(
    provider_kind: str, settings: Any, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A runtime on each key provider (and each database backend)."""
    from dataclasses import replace

    from strongbox.runtime import build_runtime

    update: dict[str, Any] = {"key_provider": provider_kind}
    if provider_kind == "pkcs11":
        hsm = request.getfixturevalue("softhsm")
        update.update(
            pkcs11_module=hsm["module"],
            pkcs11_token_label=hsm["token"],
            pkcs11_pin=hsm["pin"],
            pkcs11_key_label_prefix=f"rt-{uuid.uuid4().hex[:12]}-",
        )
    s = settings.model_copy(update=update)
    if provider_kind == "pkcs11":
        from pydantic import SecretStr

        s = s.model_copy(update={"pkcs11_pin": SecretStr(hsm["pin"])})
    rt = build_runtime(s)
    rt.payments.config = replace(
        rt.payments.config, retry_initial_seconds=0.001, retry_max_seconds=0.01
    )
    yield rt
    rt.close()
