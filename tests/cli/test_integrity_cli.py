"""``strongbox integrity seal|verify|compare`` against the test's database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from reconciliation.recon_helpers import pay
from strongbox.cli.main import app
from strongbox.runtime import Runtime


def integrity(env: dict[str, str | None], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["integrity", *args], env=env)
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


def test_seal_verify_and_a_changed_row(
    cli_env: dict[str, str | None], runtime: Runtime, api: Any
) -> None:
    integrity(cli_env, "verify", code=1)  # nothing sealed yet
    pi = pay(api, 5000)
    sealed = json.loads(integrity(cli_env, "seal").stdout)
    assert sealed["rows"]["payment_intents"] == 1
    ok = json.loads(integrity(cli_env, "verify").stdout)
    assert (ok["seals"], ok["ok"], ok["first_difference"]) == (1, True, None)
    with runtime.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE payment_intents SET currency = 'eur' WHERE id = :id"), {"id": pi["id"]}
        )
    bad = integrity(cli_env, "verify", code=1)
    day = datetime.now(UTC).date().isoformat()
    assert f"first difference: table payment_intents, day {day} (changed)" in bad.stderr
    assert json.loads(bad.stdout)["first_difference"]["table"] == "payment_intents"
    # The database compared with itself: no difference.
    url = cli_env["STRONGBOX_DATABASE_URL"] or f"sqlite:///{runtime.settings.data_dir}/strongbox.db"
    same = json.loads(integrity(cli_env, "compare", url).stdout)
    assert same["differences"] == []
