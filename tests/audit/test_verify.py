"""``strongbox audit verify``, export and retention, with rows tampered with directly in the
database (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from strongbox.audit import merkle, service
from strongbox.audit.heads import TreeHead
from strongbox.audit.models import AuditEntry
from strongbox.cli.main import app
from strongbox.core.clock import FrozenClock
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_runtime
from support import LiveServer, Merchant

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = AuditEntry.__table__


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str | None]:
    return {
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": settings.database_url,
        "STRONGBOX_AUDIT_SIGNING_KEY": None,
        "STRONGBOX_AUDIT_HEADS_FILE": None,
        "STRONGBOX_RUN_WORKERS": "false",
    }


def cli(env: dict[str, str | None], *args: str) -> Any:
    return CliRunner().invoke(app, ["audit", *args], env=env)


def fill(rt: Runtime, n: int, merchant_id: str | None = None) -> None:
    with rt.db.unit_of_work() as uow:
        for i in range(n):
            service.record(
                uow,
                action="test.action",
                actor=f"api_key:key_{i}",
                merchant_id=merchant_id,
                resource_type="thing",
                resource_id=f"thing_{i}",
                after={"i": i},
            )
        uow.commit()


def sql(rt: Runtime, statement: str, **params: Any) -> None:
    with rt.db.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


@pytest.fixture
def log(runtime: Runtime) -> Runtime:
    """12 entries, heads at sizes 4 and 12."""
    fill(runtime, 4)
    runtime.audit.sign(runtime.db)
    fill(runtime, 8)
    runtime.audit.sign(runtime.db)
    return runtime


def test_verify_passes_on_an_untouched_log(log: Runtime, cli_env: dict[str, str | None]) -> None:
    r = cli(cli_env, "verify")
    assert r.exit_code == 0, r.output
    assert "tree size 12: 12 entries" in r.output
    assert "4 signed heads" in r.output
    assert "audit log OK" in r.output
    report = json.loads(cli(cli_env, "verify", "--json").output)
    assert report["ok"] is True
    assert report["heads_checked"] == 4
    assert report["first_bad_index"] is None


def _fails_at(env: dict[str, str | None], index: int) -> str:
    r = cli(env, "verify")
    assert r.exit_code == 1, r.output
    assert f"first bad index: {index}" in r.output, r.output
    out: str = r.output
    return out


def test_an_edited_entry_is_named(log: Runtime, cli_env: dict[str, str | None]) -> None:
    sql(log, "UPDATE audit_entries SET actor = 'mallory' WHERE leaf_index = 5")
    out = _fails_at(cli_env, 5)
    assert "signed head at size 12 does not match" in out


def test_a_deleted_entry_is_named(log: Runtime, cli_env: dict[str, str | None]) -> None:
    sql(log, "DELETE FROM audit_entries WHERE leaf_index = 5")
    assert "index 5 is missing" in _fails_at(cli_env, 5)


def test_deleting_the_newest_entry_is_named(log: Runtime, cli_env: dict[str, str | None]) -> None:
    sql(log, "DELETE FROM audit_entries WHERE leaf_index = 11")
    _fails_at(cli_env, 11)


def _shift(rt: Runtime, start: int, by: int) -> None:
    # Two steps, so that the unique index never sees a duplicate.
    sql(rt, "UPDATE audit_entries SET leaf_index = -leaf_index - 1 WHERE leaf_index >= :s", s=start)
    sql(
        rt,
        "UPDATE audit_entries SET leaf_index = -leaf_index - 1 + :by WHERE leaf_index < 0",
        by=by,
    )


def test_an_inserted_entry_is_named(log: Runtime, cli_env: dict[str, str | None]) -> None:
    _shift(log, 5, 1)
    sql(
        log,
        "INSERT INTO audit_entries (id, leaf_index, leaf_hash, created, actor, action, outcome) "
        "SELECT 'aud_forged', 5, leaf_hash, created, 'mallory', 'test.action', 'success' "
        "FROM audit_entries WHERE leaf_index = 6",
    )
    _fails_at(cli_env, 5)


def test_an_entry_appended_behind_the_tree_is_named(
    log: Runtime, cli_env: dict[str, str | None]
) -> None:
    sql(
        log,
        "INSERT INTO audit_entries (id, leaf_index, leaf_hash, created, actor, action, outcome) "
        "SELECT 'aud_forged', 12, leaf_hash, created, 'mallory', 'test.action', 'success' "
        "FROM audit_entries WHERE leaf_index = 11",
    )
    assert "beyond the tree size" in _fails_at(cli_env, 12)


def test_reordered_entries_are_named(log: Runtime, cli_env: dict[str, str | None]) -> None:
    sql(log, "UPDATE audit_entries SET leaf_index = -1 WHERE leaf_index = 3")
    sql(log, "UPDATE audit_entries SET leaf_index = 3 WHERE leaf_index = 7")
    sql(log, "UPDATE audit_entries SET leaf_index = 7 WHERE leaf_index = -1")
    _fails_at(cli_env, 3)


def test_a_rewritten_database_is_caught_by_the_external_head_file(
    log: Runtime, cli_env: dict[str, str | None]
) -> None:
    """An attacker edits entry 6, recomputes every leaf hash, node and the tree state, and
    deletes the stored heads: only the heads already in the external file give it away."""
    sql(log, "UPDATE audit_entries SET actor = 'mallory' WHERE leaf_index = 6")
    with log.db.engine.begin() as conn:
        rows = conn.execute(sa.select(ENTRIES).order_by(ENTRIES.c.leaf_index)).all()
        cr = merkle.CompactRange()
        nodes = []
        for row in rows:
            h = merkle.leaf_hash(service.leaf_bytes(row, row.leaf_index))
            conn.execute(
                sa.text("UPDATE audit_entries SET leaf_hash = :h WHERE seq = :s"),
                {"h": h, "s": row.seq},
            )
            nodes.extend(cr.append(h))
        conn.execute(sa.text("DELETE FROM audit_nodes"))
        for level, idx, h in nodes:
            conn.execute(
                sa.text("INSERT INTO audit_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                {"l": level, "i": idx, "h": h},
            )
        conn.execute(sa.text("UPDATE audit_tree SET compact = :c"), {"c": b"".join(cr.hashes)})
        conn.execute(sa.text("DELETE FROM audit_tree_heads"))
    out = _fails_at(cli_env, 4)  # the last head that still matches covers [0, 4)
    assert "audit_heads.jsonl:2: signed head at size 12 does not match" in out
    assert "[4, 12)" in out


def test_a_forged_head_is_rejected(
    log: Runtime, cli_env: dict[str, str | None], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from strongbox.audit.heads import FileHeadSink, Signer, sign_head
    from strongbox.core.secret import Secret

    mallory = Signer(Secret(Ed25519PrivateKey.generate()))
    with log.db.unit_of_work() as uow:
        sign_head(uow, mallory, FileHeadSink(tmp_path / "elsewhere.jsonl"), force=True)
        uow.commit()
    r = cli(cli_env, "verify")
    assert r.exit_code == 1
    assert "untrusted key" in r.output
    # Trusting that key explicitly makes it acceptable.
    r = cli(cli_env, "verify", "--public-key", mallory.public_key)
    assert r.exit_code == 0, r.output
    # A head line with a broken signature in the external file fails.
    sink = log.audit.sink.path
    head = json.loads(sink.read_text().splitlines()[-1])
    head["root_hash"] = "00" * 32
    with sink.open("a") as f:
        f.write(json.dumps(head) + "\n")
    r = cli(cli_env, "verify", "--public-key", mallory.public_key)
    assert r.exit_code == 1
    assert "bad signature" in r.output


def test_archive_command_with_nothing_old_enough(
    log: Runtime, cli_env: dict[str, str | None]
) -> None:
    r = cli(cli_env, "archive")
    assert r.exit_code == 0, r.output
    assert "nothing to archive" in r.output


def test_audit_off_records_nothing(settings: Settings) -> None:
    rt = build_runtime(settings, audit=False)
    try:
        fill(rt, 0)
        assert not any(name == "audit" for _p, name, *_rest in rt.dispatcher._handlers)
    finally:
        rt.close()


def test_head_command_signs_on_demand(runtime: Runtime, cli_env: dict[str, str | None]) -> None:
    r = cli(cli_env, "head")
    assert r.exit_code == 0, r.output
    empty = TreeHead.from_dict(json.loads(r.output))
    assert empty.tree_size == 0
    assert empty.root_hash == merkle.EMPTY_ROOT.hex()
    fill(runtime, 3)
    head = TreeHead.from_dict(json.loads(cli(cli_env, "head").output))
    assert head.tree_size == 3
    assert head.signature_valid()


def test_export_checked_by_the_standalone_script(
    log: Runtime, cli_env: dict[str, str | None], tmp_path: Path
) -> None:
    out = tmp_path / "export.jsonl"
    with log.db.read() as s:
        t = s.execute(sa.text("SELECT created FROM audit_entries WHERE leaf_index = 0")).scalar()
    assert t is not None
    r = cli(cli_env, "export", "--output", str(out), "--since", "2000-01-01")
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["type"] == "tree_head"
    assert len(lines) == 13
    script = ROOT / "scripts" / "verify_audit_export.py"
    key = log.audit.signer.public_key
    ok = subprocess.run(
        [sys.executable, str(script), str(out), "--public-key", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "12 entries checked" in ok.stdout
    assert "OK" in ok.stdout
    # Tamper with one exported leaf: the script names it.
    item = json.loads(lines[3])
    item["leaf"] = item["leaf"].replace("api_key:key_2", "api_key:key_X")
    lines[3] = json.dumps(item)
    out.write_text("\n".join(lines) + "\n")
    bad = subprocess.run(
        [sys.executable, str(script), str(out), "--public-key", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "entry 2: not included" in bad.stdout
    # Another key is refused.
    other = subprocess.run(
        [sys.executable, str(script), str(out), "--public-key", "A" * 43 + "="],
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == 1
    # A time window selects entries; bad times are a usage error.
    r = cli(cli_env, "export", "--until", "2000-01-01")
    assert r.exit_code == 0
    assert len(r.output.splitlines()) == 1
    assert cli(cli_env, "export", "--since", "yesterday").exit_code == 2


@pytest.fixture
def clocked(settings: Settings) -> Iterator[tuple[Runtime, FrozenClock]]:
    clock = FrozenClock()
    rt = build_runtime(settings, clock=clock)
    yield rt, clock
    rt.close()


def test_retention_archives_only_what_the_policy_allows(
    clocked: tuple[Runtime, FrozenClock], settings: Settings, cli_env: dict[str, str | None]
) -> None:
    rt, clock = clocked
    fill(rt, 5, "acct_x")  # t0
    clock.advance(timedelta(days=100))
    fill(rt, 4, "acct_x")  # t0 + 100 days
    clock.advance(timedelta(days=299))  # t0 + 399 days: nothing is old enough
    assert rt.audit.archive(rt.db) is None
    clock.advance(timedelta(days=2))  # t0 + 401 days
    arch = rt.audit.archive(rt.db)
    assert arch is not None
    assert (arch.first_index, arch.end_index) == (0, 5)
    assert rt.audit.archive(rt.db) is None  # the rest is younger than 400 days
    with rt.db.read() as s:
        left = s.execute(sa.text("SELECT leaf_index FROM audit_entries ORDER BY 1")).scalars()
        assert list(left) == [5, 6, 7, 8, 9]  # 9: the archiving itself is recorded
        action = s.execute(
            sa.text("SELECT action FROM audit_entries WHERE leaf_index = 9")
        ).scalar()
        assert action == "strongbox.audit.archived"
    with gzip.open(arch.path, "rt") as f:
        header, *items = [json.loads(line) for line in f]
    assert header["end_index"] == 5
    assert TreeHead.from_dict(header["tree_head"]).signature_valid()
    assert [i["index"] for i in items] == [0, 1, 2, 3, 4]
    report = rt.audit.verify(rt.db)
    assert report.ok, report.problems
    assert (report.archived_checked, report.entries_checked) == (5, 5)
    # Proofs still work across the boundary, archived leaves included.
    with rt.db.read() as s:
        tree = service.stored_tree(s)
        root = tree.root(9)
        leaf = service.leaf_bytes(
            s.execute(sa.select(ENTRIES).where(ENTRIES.c.leaf_index == 5)).one(), 5
        )
        assert merkle.verify_inclusion(leaf, 5, 9, tree.inclusion_proof(5, 9), root)
        assert merkle.verify_consistency(3, 9, tree.root(3), root, tree.consistency_proof(3, 9))
    # Two years on, the rest goes too; both archives verify.
    clock.advance(timedelta(days=400))
    assert rt.audit.archive(rt.db) is not None
    assert rt.audit.verify(rt.db).ok
    # A changed or missing archive file fails verification.
    Path(arch.path).write_bytes(gzip.compress(b"{}\n"))
    report = rt.audit.verify(rt.db)
    assert not report.ok
    assert report.first_bad_index == 0
    Path(arch.path).unlink()
    r = cli({**cli_env}, "verify")
    assert r.exit_code == 1
    assert "first bad index: 0" in r.output
    assert "missing" in r.output


def test_archive_refuses_a_tampered_range(clocked: tuple[Runtime, FrozenClock]) -> None:
    rt, clock = clocked
    fill(rt, 3)
    rt.audit.integrate(rt.db)
    sql(rt, "UPDATE audit_entries SET actor = 'mallory' WHERE leaf_index = 1")
    clock.advance(timedelta(days=401))
    from strongbox.audit.tasks import AuditStateError

    with pytest.raises(AuditStateError, match="entry 1"):
        rt.audit.archive(rt.db)
    with rt.db.read() as s:  # nothing was deleted
        assert s.execute(sa.text("SELECT count(*) FROM audit_entries")).scalar() == 3


PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def test_concurrent_writers_through_the_api_get_contiguous_indexes(
    runtime: Runtime, merchant: Merchant
) -> None:
    """Threads pay through a live server while the integrator runs; afterwards the indexes
    are 0..n-1 without gaps and verify passes."""
    stop = threading.Event()
    integrated: list[int] = []

    def integrator() -> None:
        while not stop.is_set():
            with runtime.db.unit_of_work() as uow:
                integrated.append(service.integrate(uow, batch=7))
                uow.commit()

    with LiveServer(runtime) as server:
        bg = threading.Thread(target=integrator)
        bg.start()

        def worker(n: int) -> int:
            ok = 0
            with httpx.Client(base_url=server.url, timeout=30, headers=merchant.headers) as c:
                for _ in range(n):
                    ok += c.post("/v1/payment_intents", data=PAY).status_code == 200
            return ok

        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                done = sum(pool.map(worker, [6] * 8))
        finally:
            stop.set()
            bg.join()
    assert done == 48
    assert sum(integrated) > 0
    runtime.audit.sign(runtime.db)
    with runtime.db.read() as s:
        idx = list(s.execute(sa.text("SELECT leaf_index FROM audit_entries ORDER BY 1")).scalars())
        events = s.execute(sa.text("SELECT count(*) FROM events")).scalar()
    assert idx == list(range(len(idx)))
    assert len(idx) == events
    assert len(idx) >= 2 * 48
    report = runtime.audit.verify(runtime.db)
    assert report.ok, report.problems
    assert report.entries_checked == len(idx)
    assert report.pending == 0
