"""Table seals: rows edited, deleted and inserted behind Strongbox's back, an old backup
restored, a replica compared, seals tampered with; each is found and named."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from recon_helpers import pay, refund

from strongbox.db.engine import make_engine
from strongbox.db.metadata import target_metadata
from strongbox.db.migrate import upgrade
from strongbox.reconciliation import integrity
from strongbox.reconciliation.digests import TABLES
from strongbox.runtime import Runtime, build_runtime


def _sink(rt: Runtime) -> integrity.SealFile:
    return integrity.sink_for(rt.settings.data_dir, None)


def _seal(rt: Runtime) -> integrity.Seal:
    s = integrity.seal(rt.db, rt.audit.signer, _sink(rt))
    assert s is not None
    return s


def _behind_the_back(rt: Runtime, *sql: str, **params: Any) -> None:
    with rt.db.engine.begin() as conn:
        if rt.db.engine.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))  # no triggers
        else:  # SQLite: the guarding triggers dropped, as someone with the file could
            names = conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            for (name,) in list(names):
                conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        for stmt in sql:
            conn.execute(sa.text(stmt), params)


def _day() -> str:
    return datetime.now(UTC).date().isoformat()


def _first(rt: Runtime) -> tuple[str, str, str] | None:
    result = integrity.verify(rt.db, _sink(rt))
    assert not result.problems, result.problems
    first = result.first
    return None if first is None else (first.table, first.day, first.kind)


def test_a_fresh_seal_verifies_and_chains(api: TestClient, runtime: Runtime) -> None:
    pay(api, 1000)
    s1 = _seal(runtime)
    assert s1.previous_chain is None
    assert s1.digests["payment_intents"][_day()]["rows"] == 1
    assert s1.digests["ledger_transfers"][_day()]["rows"] >= 1
    assert set(s1.digests) == {t.name for t in TABLES}
    s2 = _seal(runtime)
    assert s2.previous_chain == s1.chain
    result = integrity.verify(
        runtime.db, _sink(runtime), public_key=runtime.audit.signer.public_key
    )
    assert (result.seals, result.ok, result.problems) == (2, True, [])
    # Rows written after the latest seal are not a difference: the next seal covers them.
    pay(api, 2000)
    assert _first(runtime) is None
    # A nightly pass seals only when the latest seal is old enough.
    assert integrity.seal(runtime.db, runtime.audit.signer, _sink(runtime), due_hours=24) is None


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("UPDATE payment_intents SET amount = amount + 1 WHERE id = :pi", "payment_intents"),
        ("DELETE FROM refunds WHERE payment_intent_id = :pi", "refunds"),
        ("UPDATE ledger_transfers SET amount = 1 WHERE source = :pi", "ledger_transfers"),
        ("DELETE FROM events WHERE resource_id = :pi", "events"),
        (
            "INSERT INTO payment_attempts (id, merchant_id, payment_intent_id, kind, status, "
            "connector, gateway_idempotency_key, amount, currency, capture, lookups, created, "
            "updated) SELECT 'pa_forged', merchant_id, id, 'authorize', 'succeeded', "
            "'simulator', 'forged-key', amount, currency, true, 0, created, updated "
            "FROM payment_intents WHERE id = :pi",
            "payment_attempts",
        ),
    ],
    ids=["edit-payment", "delete-refund", "edit-ledger", "delete-event", "insert-attempt"],
)
def test_rows_changed_behind_strongboxs_back_are_named(
    api: TestClient, runtime: Runtime, sql: str, table: str
) -> None:
    pi = pay(api, 3000)
    refund(api, pi["id"], 1000)
    _seal(runtime)
    assert _first(runtime) is None
    _behind_the_back(runtime, sql, pi=pi["id"])
    found = _first(runtime)
    assert found is not None
    assert found[:2] == (table, _day())
    assert found[2] in ("changed", "missing")


def _copy_sqlite(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    b.close()
    a.close()


def test_an_old_backup_restored_is_found_by_the_external_seals(
    api: TestClient, runtime: Runtime, settings: Any, tmp_path: Path
) -> None:
    pay(api, 1111)
    _seal(runtime)
    if runtime.db.engine.dialect.name == "sqlite":
        # A real backup of the database file, restored after more payments were sealed.
        db_file = settings.data_dir / "strongbox.db"
        backup = tmp_path / "backup.db"
        _copy_sqlite(db_file, backup)
        pay(api, 2222)
        _seal(runtime)
        runtime.db.engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(backup, db_file)
        rt = build_runtime(settings)
    else:
        # PostgreSQL: what the restore leaves, made by hand (rows and the seal gone).
        with runtime.db.read() as session:
            cutoff = integrity.all_seals(session, _sink(runtime))[-1].sealed_at
        pay(api, 2222)
        _seal(runtime)
        tables = [t.name for t in TABLES] + ["integrity_seals"]
        column = {"integrity_seals": "sealed_at"}
        _behind_the_back(
            runtime,
            *(f"DELETE FROM {t} WHERE {column.get(t, 'created')} > :cut" for t in tables),
            cut=datetime.fromisoformat(cutoff),
        )
        rt = runtime
    try:
        result = integrity.verify(rt.db, _sink(rt))
        assert any("in the seal file but not in the database" in p for p in result.problems)
        first = result.first
        assert first is not None
        assert (first.table, first.day, first.kind) == ("payment_intents", _day(), "changed")
        assert first.expected is not None
        assert first.found is not None
        assert (first.expected["rows"], first.found["rows"]) == (2, 1)
    finally:
        if rt is not runtime:
            rt.close()


def test_a_tampered_seal_breaks_its_signature_and_the_chain(
    api: TestClient, runtime: Runtime
) -> None:
    pay(api, 500)
    _seal(runtime)
    _seal(runtime)
    path = _sink(runtime).path
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    day = next(iter(first["digests"]["payment_intents"]))
    first["digests"]["payment_intents"][day]["rows"] = 7
    path.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with runtime.db.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE integrity_seals SET digests = :d WHERE id = :id").bindparams(
                sa.bindparam("d", type_=target_metadata.tables["integrity_seals"].c.digests.type)
            ),
            {"d": first["digests"], "id": first["id"]},
        )
    result = integrity.verify(runtime.db, _sink(runtime))
    assert f"seal {first['id']}: bad signature" in result.problems
    assert f"seal {first['id']}: breaks the chain" in result.problems
    assert not result.ok


def test_compare_lists_the_days_a_replica_differs(
    api: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    pi = pay(api, 4200)
    refund(api, pi["id"], 200)
    # A replica on SQLite, whatever the primary runs on: the rows copied as they are.
    replica = make_engine(f"sqlite:///{tmp_path / 'replica.db'}", pool_size=1)
    upgrade(replica)
    try:
        with runtime.db.engine.connect() as src, replica.begin() as dst:
            # A row copy, not a replay: the ledger's insert triggers stay out of it.
            triggers = dst.execute(sa.text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            for (name,) in list(triggers):
                dst.execute(sa.text(f'DROP TRIGGER "{name}"'))
            for spec in TABLES:
                table = target_metadata.tables[spec.name]
                rows = [dict(r._mapping) for r in src.execute(sa.select(table))]
                if rows:
                    dst.execute(sa.insert(table), rows)
        until = datetime.now(UTC) + timedelta(seconds=1)
        assert integrity.compare(runtime.db, replica, until) == []
        with replica.begin() as dst:
            dst.execute(
                sa.text("UPDATE refunds SET amount = amount + 1 WHERE payment_intent_id = :p"),
                {"p": pi["id"]},
            )
        diffs = integrity.compare(runtime.db, replica, until)
        assert [(d.table, d.day, d.kind) for d in diffs] == [("refunds", _day(), "changed")]
    finally:
        replica.dispose()


def test_a_lost_seal_file_is_reported(api: TestClient, runtime: Runtime) -> None:
    pay(api, 900)
    s = _seal(runtime)
    _sink(runtime).path.unlink()
    result = integrity.verify(runtime.db, _sink(runtime))
    assert result.problems == [f"seal {s.id}: in the database but not in the seal file"]
    assert not result.ok
