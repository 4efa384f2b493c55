"""``strongbox recon import`` and ``strongbox recon run`` against the test's database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciliation.recon_helpers import exceptions, pay, report, simulator_account, today
from strongbox.cli.main import app
from strongbox.runtime import Runtime
from support import Merchant


def recon(env: dict[str, str | None], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["recon", *args], env=env)
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


def test_import_a_file_and_run_the_day(
    cli_env: dict[str, str | None],
    runtime: Runtime,
    merchant: Merchant,
    api: Any,
    tmp_path: Path,
) -> None:
    account = simulator_account(api)
    paid = pay(api, 1234)
    text = report(runtime, merchant.id)
    file = tmp_path / "balance_change_from_activity.itemized.3.csv"
    file.write_text(text)
    out = json.loads(recon(cli_env, "import", str(file), "--connector-account", account).stdout)
    assert (out["lines"], out["format"], out["filename"]) == (1, "stripe_itemized", file.name)
    again = recon(cli_env, "import", str(file), "--connector-account", account, code=1)
    assert json.loads(again.stderr)["error"]["code"] == "report_already_imported"
    recon(cli_env, "import", str(file), "--connector-account", "mca_nope", code=2)

    # Every account with lines that day; all matched: exit 0.
    body = json.loads(recon(cli_env, "run", "--date", today()).stdout)
    assert body["connector_account"] == account
    assert body["outcomes"]["matched"]["count"] == 1
    assert body["open_exceptions"] == 0

    # A second payment the gateway never reported: the run says so and exits 1.
    pay(api, 4321)
    result = recon(cli_env, "run", "--date", today(), "--connector-account", account, code=1)
    body = json.loads(result.stdout)
    assert body["outcomes"]["missing_at_gateway"]["count"] == 1
    assert body["open_exceptions"] == 1
    [exc] = exceptions(api, status="open")
    assert exc["outcome"] == "missing_at_gateway"
    assert exc["strongbox_object"] != paid["id"]
    recon(cli_env, "run", "--date", "2024-13-01", code=2)
