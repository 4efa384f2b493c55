"""The ``strongbox`` command line: ``merchants create`` and ``db upgrade``.

Runs on the embedded SQLite file in a temporary data directory and, when
``STRONGBOX_TEST_DATABASE_URL`` is set, on PostgreSQL too (the ``settings`` fixture's backends).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from strongbox.api.app import create_app
from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.db.engine import make_engine
from strongbox.db.migrate import alembic_config
from strongbox.runtime import build_runtime


@contextmanager
def _client(settings: Settings) -> Iterator[TestClient]:
    """A client for the instance the CLI wrote to (built after the CLI ran)."""
    rt = build_runtime(settings, migrate=False)
    try:
        with TestClient(create_app(rt, run_workers=False), raise_server_exceptions=False) as c:
            yield c
    finally:
        rt.close()


def _invoke(env: dict[str, str | None], *args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _rows(settings: Settings, sql: str, **params: Any) -> list[sa.Row[Any]]:
    engine = make_engine(settings.resolved_database_url, pool_size=2)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()


def test_merchants_create_prints_working_keys_and_stores_only_hashes(
    cli_env: dict[str, str | None], settings: Settings
) -> None:
    result = _invoke(cli_env, "merchants", "create", "Acme Books")
    created = json.loads(result.stdout)
    assert set(created) == {"id", "name", "secret_key", "publishable_key"}
    assert created["id"].startswith("acct_")
    assert created["name"] == "Acme Books"
    sk, pk = created["secret_key"], created["publishable_key"]
    assert sk.startswith("sk_test_")
    assert pk.startswith("pk_test_")
    assert len(sk) >= 32

    merchant = _rows(settings, "SELECT id, name FROM merchants WHERE id = :id", id=created["id"])
    assert [(m.id, m.name) for m in merchant] == [(created["id"], "Acme Books")]

    # Only digests are stored: no column of any key row holds a raw key.
    keys = _rows(settings, "SELECT * FROM api_keys WHERE merchant_id = :m", m=created["id"])
    assert sorted(k.kind for k in keys) == ["publishable", "secret"]
    by_kind = {k.kind: k for k in keys}
    assert by_kind["secret"].key_hash == hashlib.sha256(sk.encode()).hexdigest()
    assert by_kind["publishable"].key_hash == hashlib.sha256(pk.encode()).hexdigest()
    for row in keys:
        for value in row:
            if isinstance(value, str):
                assert sk not in value
                assert pk not in value
                assert sk[8:] not in value
                assert pk[8:] not in value
    assert by_kind["secret"].redacted.endswith(sk[-4:])

    # The printed keys authenticate against the API.
    with _client(settings) as client:
        ok = client.get("/v1/payment_intents", headers={"Authorization": f"Bearer {sk}"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {
            "object": "list",
            "url": "/v1/payment_intents",
            "has_more": False,
            "data": [],
        }
        paid = client.post(
            "/v1/payment_intents",
            auth=(sk, ""),  # HTTP basic, as curl -u sk_...: does
            data={
                "amount": "1000",
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        )
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "succeeded"

        publishable = client.post(
            "/v1/payment_intents",
            headers={"Authorization": f"Bearer {pk}"},
            data={"amount": "1000", "currency": "usd"},
        )
        assert publishable.status_code == 403  # recognised, but not allowed to do this
        assert publishable.json()["error"]["code"] == "secret_key_required"

        wrong = client.get("/v1/payment_intents", headers={"Authorization": f"Bearer {sk}x"})
        assert wrong.status_code == 401
        assert sk not in wrong.text


def test_each_merchant_gets_its_own_keys(
    cli_env: dict[str, str | None], settings: Settings
) -> None:
    first = json.loads(_invoke(cli_env, "merchants", "create", "One").stdout)
    second = json.loads(_invoke(cli_env, "merchants", "create", "Two").stdout)
    assert first["id"] != second["id"]
    assert first["secret_key"] != second["secret_key"]
    with _client(settings) as client:
        made = client.post(
            "/v1/customers",
            headers={"Authorization": f"Bearer {first['secret_key']}"},
            data={"email": "one@example.com"},
        )
        assert made.status_code == 200
        other = client.get(
            f"/v1/customers/{made.json()['id']}",
            headers={"Authorization": f"Bearer {second['secret_key']}"},
        )
        assert other.status_code == 404


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_merchants_create_rejects_bad_names(cli_env: dict[str, str | None], name: str) -> None:
    result = CliRunner().invoke(app, ["merchants", "create", name], env=cli_env)
    assert result.exit_code == 2
    assert "merchant name must be 1 to 200 characters" in result.output
    assert "sk_test_" not in result.output


def test_db_upgrade_prints_the_head_revision(
    cli_env: dict[str, str | None], settings: Settings
) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    result = _invoke(cli_env, "db", "upgrade")
    assert result.stdout.strip() == f"database at revision {head}"
    version = _rows(settings, "SELECT version_num FROM alembic_version")
    assert [v.version_num for v in version] == [head]
    # Idempotent: running it again changes nothing.
    again = _invoke(cli_env, "db", "upgrade")
    assert again.stdout.strip() == f"database at revision {head}"
    engine = make_engine(settings.resolved_database_url, pool_size=2)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"merchants", "api_keys", "payment_intents"} <= tables


def test_db_upgrade_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    env: dict[str, str | None] = {"STRONGBOX_DATA_DIR": str(data), "STRONGBOX_DATABASE_URL": None}
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    result = _invoke(env, "db", "upgrade")
    assert result.stdout.strip() == f"database at revision {head}"
    assert (data / "strongbox.db").is_file()
