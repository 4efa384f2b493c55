"""``strongbox keys …`` as a user runs it, and ``GET /healthz/keys``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.core.secret import Secret
from strongbox.runtime import Runtime
from strongbox.vault.models import DataKey
from vault.helpers import record_committed_events

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("STRONGBOX_DATA_DIR", str(data))
    monkeypatch.delenv("STRONGBOX_DATABASE_URL", raising=False)
    return data


def _store(n: int) -> None:
    from strongbox.core.settings import Settings
    from strongbox.runtime import build_runtime

    rt = build_runtime(Settings())
    try:
        with rt.db.unit_of_work() as uow:
            for i in range(n):
                rt.vault.service.tokenize(
                    uow, "acct_x", f"pm_{i}", Secret("4242424242424242"), None
                )
            uow.commit()
    finally:
        rt.close()


def test_keys_list_rotate_and_rotate_kek(env: Path) -> None:
    _store(3)
    r = runner.invoke(app, ["keys", "list"])
    assert r.exit_code == 0, r.output
    assert "data" in r.output
    assert "OVERDUE" not in r.output
    r = runner.invoke(app, ["keys", "rotate", "--batch", "2"])
    assert r.exit_code == 0, r.output
    assert "new active data key v2" in r.output
    assert "re-encrypted 3 record(s)" in r.output
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)
    data = {k["version"]: k for k in listed["keys"] if k["kind"] == "data"}
    assert data[2]["status"] == "active"
    assert data[2]["records"] == 3
    assert data[1]["records"] == 0
    assert listed["cryptoperiod_days"] == 90
    # A resumed run finds nothing left.
    r = runner.invoke(app, ["keys", "rotate", "--resume"])
    assert r.exit_code == 0, r.output
    assert "re-encrypted 0 record(s)" in r.output
    r = runner.invoke(app, ["keys", "rotate-kek"])
    assert r.exit_code == 0, r.output
    assert "key-encryption key v2 is active" in r.output
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)
    keks = {k["version"]: k["status"] for k in listed["keys"] if k["kind"] == "kek"}
    assert keks == {1: "retired", 2: "active"}
    # The keyring still opens everything after the CLI's changes.
    r = runner.invoke(app, ["keys", "rotate"])
    assert r.exit_code == 0, r.output
    assert "re-encrypted 3 record(s)" in r.output


def test_keys_list_reports_overdue(env: Path) -> None:
    _store(1)
    from strongbox.core.settings import Settings
    from strongbox.runtime import build_runtime

    rt = build_runtime(Settings())
    with rt.db.unit_of_work() as uow:
        uow.session.execute(update(DataKey).values(created=uow.clock.now() - timedelta(days=100)))
        uow.commit()
    rt.close()
    r = runner.invoke(app, ["keys", "list"])
    assert r.exit_code == 0
    assert "OVERDUE" in r.output
    assert "older than the 90-day cryptoperiod" in r.output


def test_cli_reports_provider_errors_without_a_traceback(env: Path) -> None:
    _store(1)
    (env / "vault-keyring.json").unlink()
    r = runner.invoke(app, ["keys", "list"])
    assert r.exit_code == 2
    assert "key-encryption key" in r.output
    assert "Traceback" not in r.output


def test_health_endpoint_reports_overdue_keys(runtime: Runtime, client: TestClient) -> None:
    r = client.get("/healthz/keys")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["provider"] == "local"
    assert {(k["kind"], k["version"]) for k in body["active"]} == {
        ("kek", 1),
        ("data", 1),
        ("seal", 1),
        ("mac", 1),
    }
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            update(DataKey)
            .where(DataKey.purpose == "data")
            .values(created=uow.clock.now() - timedelta(days=91))
        )
        uow.commit()
    body = client.get("/healthz/keys").json()
    assert body["status"] == "overdue"
    assert body["overdue"] == [{"kind": "data", "version": 1, "age_days": 91}]


def test_every_key_operation_is_an_internal_event(runtime: Runtime) -> None:
    from strongbox.vault.keys import system_context

    events = record_committed_events(runtime, "strongbox.key.*")
    with runtime.db.unit_of_work() as uow:
        runtime.vault.keys.rotate(uow, system_context("test"))
        runtime.vault.keys.rotate_kek(uow, system_context("test"))
        uow.commit()
    types = [e.type for e in events]
    assert "strongbox.key.rotated" in types
    assert "strongbox.key.kek_rotated" in types
    assert all(e.internal for e in events)
    assert all(e.type.startswith("strongbox.key.") for e in events)
    # Internal events never reach the outbox (/v1/events, webhooks).
    from sqlalchemy import func, select

    from strongbox.events.models import OutboxEvent

    with runtime.db.read() as s:
        n = s.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type.like("strongbox.%"))
        )
    assert n == 0
