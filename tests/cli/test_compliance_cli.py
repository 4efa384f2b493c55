"""``strongbox compliance check`` and ``strongbox compliance controls``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.compliance import service
from strongbox.runtime import Runtime


def compliance(env: dict[str, str | None], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["compliance", *args], env=env)
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


def _scan(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as uow:
        service.record_scan(uow, tool="pip-audit", target="lock.txt", dependencies=3, findings=[])
        uow.commit()


def test_check_exits_1_when_a_control_fails_and_0_when_none_does(
    cli_env: dict[str, str | None], runtime: Runtime, tmp_path: Path
) -> None:
    failing = compliance(cli_env, "check", code=1)
    assert "FAIL  12.10.1" in failing.stdout
    assert "N/A   8.4.2" in failing.stdout
    _scan(runtime)
    env = {**cli_env, "STRONGBOX_INCIDENT_CONTACT": "security@example.com"}
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    ok = compliance(env, "check", "--json", "--html", str(html), "--pdf", str(pdf))
    doc = json.loads(ok.stdout)
    assert (doc["status"], doc["failed"]) == ("pass", 0), [
        r for r in doc["results"] if r["status"] == "fail"
    ]
    assert service.verify_report(doc, {runtime.audit.signer.public_key})
    page = html.read_text()
    for shown in (doc["id"], "12.10.1", doc["signature"]["value"]):
        assert shown in page
    assert pdf.read_bytes().startswith(b"%PDF")


def test_scan_without_advisory_data_reports_the_last_scan(
    cli_env: dict[str, str | None], tmp_path: Path
) -> None:
    out = compliance(cli_env, "check", "--scan", "--lock", str(tmp_path / "none.txt"), code=1)
    assert "no dependency scan:" in out.stderr
    assert "FAIL  11.3.1" in out.stdout


def test_controls_prints_and_writes_the_docs_table(
    cli_env: dict[str, str | None], tmp_path: Path
) -> None:
    table = compliance(cli_env, "controls").stdout
    assert "| 3.4.1 |" in table
    doc = tmp_path / "c.md"
    doc.write_text("before\n" + table.replace("| 3.4.1 |", "| old |") + "after\n")
    compliance(cli_env, "controls", "--write", str(doc))
    assert doc.read_text() == "before\n" + table + "after\n"
