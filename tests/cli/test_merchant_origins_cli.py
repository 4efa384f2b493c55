"""``strongbox merchants origins add|list|remove``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime
from support import Merchant


def _env(settings: Settings) -> dict[str, str | None]:
    return {
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": settings.database_url,
        "STRONGBOX_SIMULATOR_URL": None,
        "STRONGBOX_RUN_WORKERS": "false",
        "COLUMNS": "250",  # error messages on one line
    }


def test_add_list_remove(settings: Settings, runtime: Runtime, merchant: Merchant) -> None:
    runner = CliRunner()
    env = _env(settings)

    def run(*args: str) -> str:
        result = runner.invoke(app, ["merchants", "origins", *args], env=env)
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result.output

    added = json.loads(run("add", merchant.id, "HTTPS://Shop.Example.com"))
    assert added["object"] == "merchant_origin"
    assert added["origin"] == "https://shop.example.com"
    assert added["id"].startswith("mo_")
    run("add", merchant.id, "http://localhost:3000")
    assert run("list", merchant.id).splitlines() == [
        "http://localhost:3000",
        "https://shop.example.com",
    ]
    assert run("remove", merchant.id, "https://shop.example.com:443") == (
        "removed https://shop.example.com\n"
    )
    assert run("list", merchant.id).splitlines() == ["http://localhost:3000"]


def test_errors_are_reported_and_change_nothing(
    settings: Settings, runtime: Runtime, merchant: Merchant
) -> None:
    runner = CliRunner()
    env = _env(settings)

    def fail(*args: str) -> str:
        result = runner.invoke(app, ["merchants", "origins", *args], env=env)
        assert result.exit_code == 2, result.output
        return result.output

    assert "Invalid origin" in fail("add", merchant.id, "https://shop.example.com/pay")
    assert "no merchant" in fail("add", "acct_missing", "https://shop.example.com")
    assert "No such merchant origin" in fail("remove", merchant.id, "https://shop.example.com")
    runner.invoke(app, ["merchants", "origins", "add", merchant.id, "https://a.example"], env=env)
    assert "already registered" in fail("add", merchant.id, "https://a.example")
    listed = runner.invoke(app, ["merchants", "origins", "list", merchant.id], env=env)
    assert listed.output.splitlines() == ["https://a.example"]
