"""``strongbox pki init|issue|list|revoke``: files, JSON output, audit entries, bad input."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.db.engine import make_engine


def _cli(env: dict[str, str | None], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


def _actions(settings: Settings) -> list[str]:
    engine = make_engine(settings.resolved_database_url, pool_size=2)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT action FROM audit_entries WHERE action LIKE 'strongbox.pki.%'")
            )
            return sorted(r.action for r in rows)
    finally:
        engine.dispose()


def test_init_issue_list_revoke(cli_env: dict[str, str | None], settings: Settings) -> None:
    out = json.loads(_cli(cli_env, "pki", "init").stdout)
    assert out["ca"].endswith("ca.pem")
    _cli(cli_env, "pki", "init", code=2)  # a second CA is refused
    issued = json.loads(
        _cli(cli_env, "pki", "issue", "worker", "--permission", "audit:read").stdout
    )
    assert issued["permissions"] == ["audit:read"]
    listed = [json.loads(x) for x in _cli(cli_env, "pki", "list").stdout.splitlines()]
    assert [(x["name"], x["revoked"]) for x in listed] == [("worker", False)]
    revoked = json.loads(_cli(cli_env, "pki", "revoke", "worker").stdout)
    assert revoked["revoked"] == [issued["serial"]]
    listed = [json.loads(x) for x in _cli(cli_env, "pki", "list").stdout.splitlines()]
    assert [x["revoked"] for x in listed] == [True]
    bad = _cli(cli_env, "pki", "issue", "worker", "--permission", "root:all", code=2)
    assert "unknown permission" in bad.output
    assert _actions(settings) == [
        "strongbox.pki.ca_created",
        "strongbox.pki.certificate_issued",
        "strongbox.pki.certificate_revoked",
    ]


def test_issue_before_init_is_a_usage_error(cli_env: dict[str, str | None]) -> None:
    result = _cli(cli_env, "pki", "issue", "worker", code=2)
    assert "pki init" in result.output


def test_server_certificates_and_the_simulators_tls_options(
    cli_env: dict[str, str | None],
) -> None:
    _cli(cli_env, "pki", "init")
    out = json.loads(
        _cli(cli_env, "pki", "issue", "simulator", "--server-host", "127.0.0.1").stdout
    )
    assert out["certificate"].endswith("simulator.pem")
    assert _cli(cli_env, "pki", "list").stdout == ""  # servers are not service identities
    wide = {**cli_env, "COLUMNS": "300"}  # one line per message in typer's error box
    half = _cli(wide, "simulator", "serve", "--tls-cert", out["certificate"], code=2)
    assert "go together" in half.output
