"""``strongbox privacy request create|show|list``."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from privacy_seed import EMAIL, seed
from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.privacy.certificate import certificate_valid
from strongbox.runtime import Runtime
from support import Merchant


def _env(settings: Settings) -> dict[str, str | None]:
    return {
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": settings.database_url,
        "STRONGBOX_SIMULATOR_URL": None,
        "STRONGBOX_RUN_WORKERS": "false",
        "COLUMNS": "250",
    }


def test_create_show_list(
    settings: Settings, runtime: Runtime, api: TestClient, merchant: Merchant, tmp_path: Path
) -> None:
    ids = seed(api, runtime)
    runner = CliRunner()
    env = _env(settings)

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["privacy", "request", *args], env=env)
        assert result.exit_code == code, result.output + repr(result.exception)
        return result.output

    access = json.loads(run("create", merchant.id, "--type", "access", "--email", EMAIL))
    assert access["status"] == "completed"
    assert access["found"]["payment_intents"] == 2
    out = tmp_path / "export.html"
    shown = json.loads(run("show", merchant.id, access["id"], "--export", str(out), "--html"))
    assert shown["id"] == access["id"]
    assert "Ada &lt;b&gt;Lovelace" in out.read_text()
    assert oct(out.stat().st_mode & 0o777) == "0o600"

    erased = json.loads(
        run("create", merchant.id, "--type", "erasure", "--customer", ids["customer"])
    )
    assert erased["steps"][-1]["step"] == "certificate"
    assert certificate_valid(erased["certificate"])
    lines = run("list", merchant.id).splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        [access["id"], "access", "completed"],
        [erased["id"], "erasure", "completed"],
    ]
    # Bad input: a usage error that changes nothing.
    err = run("create", merchant.id, "--type", "forget", "--customer", ids["customer"], code=2)
    assert "type" in err.lower()
    assert len(run("list", merchant.id).splitlines()) == 2
