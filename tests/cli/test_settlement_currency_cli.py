"""``strongbox merchants settlement-currency``: set, show on ``GET /v1/account``, clear."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.test_merchant_origins_cli import _env
from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime
from support import Merchant


def test_set_show_and_clear(
    settings: Settings, runtime: Runtime, merchant: Merchant, api: TestClient
) -> None:
    runner = CliRunner()
    env = _env(settings)

    def run(*args: str) -> dict[str, object]:
        result = runner.invoke(app, ["merchants", "settlement-currency", *args], env=env)
        assert result.exit_code == 0, result.output + repr(result.exception)
        out: dict[str, object] = json.loads(result.output)
        return out

    assert api.get("/v1/account").json()["default_currency"] is None
    assert run(merchant.id, "EUR")["default_currency"] == "eur"
    runtime.key_cache.clear()  # a server sees it within the key cache's lifetime
    body = api.get("/v1/account").json()
    assert (body["object"], body["id"], body["default_currency"]) == (
        "account",
        merchant.id,
        "eur",
    )
    assert run(merchant.id, "none")["default_currency"] is None
    audited = api.get("/v1/audit/events", params={"action": "account.updated"}).json()["data"]
    assert len(audited) == 2, audited


def test_a_bad_currency_or_merchant_changes_nothing(
    settings: Settings, runtime: Runtime, merchant: Merchant, api: TestClient
) -> None:
    runner = CliRunner()
    env = _env(settings)
    bad = runner.invoke(app, ["merchants", "settlement-currency", merchant.id, "euro"], env=env)
    assert bad.exit_code != 0
    assert "currency" in bad.output.lower()
    gone = runner.invoke(app, ["merchants", "settlement-currency", "acct_nope", "eur"], env=env)
    assert gone.exit_code != 0
    runtime.key_cache.clear()
    assert api.get("/v1/account").json()["default_currency"] is None
