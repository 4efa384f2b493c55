"""``strongbox fx load`` from a file in the ECB's format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fx.fx_helpers import DAY1, ecb_xml
from strongbox.cli.main import app


def test_load_a_file_then_the_api_serves_it(
    cli_env: dict[str, str | None], api: Any, tmp_path: Path
) -> None:
    path = tmp_path / "eurofxref-daily.xml"
    path.write_text(ecb_xml(DAY1))
    result = CliRunner().invoke(app, ["fx", "load", str(path)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rows_added": 5, "latest_date": "2026-12-03"}
    assert api.get("/v1/exchange_rates/gbp").json()["rates"]["eur"] > 1
    bad = tmp_path / "bad.xml"
    bad.write_text("<html/>")
    result = CliRunner().invoke(app, ["fx", "load", str(bad)], env=cli_env)
    assert result.exit_code == 1
    assert "no <Cube>" in result.stderr
    result = CliRunner().invoke(app, ["fx", "load"], env=cli_env)
    assert result.exit_code == 2
