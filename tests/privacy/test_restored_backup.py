"""A database copy taken before an erasure, restored afterwards, yields no readable personal
data of the subject: on start the runtime re-applies the journalled erasure (crypto-shred
and scrub) to the restored copy. Ledger and audit log stay verifiable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from privacy_seed import EMAIL, PHONE, seed

from strongbox.api.app import create_app
from strongbox.core.settings import Settings
from strongbox.db.metadata import target_metadata
from strongbox.ledger.verify import verify_ledger
from strongbox.privacy.models import PrivacyRequest
from strongbox.runtime import Runtime, build_runtime
from support import make_merchant

NEEDLES = ("ada.lovelace@example.com", "lovelace", "analytical row", "7946 0018")


def _backup(db_file: Path, to: Path) -> None:
    src = sqlite3.connect(db_file)
    dst = sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _restore(backup: Path, db_file: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(db_file) + suffix).unlink(missing_ok=True)
    db_file.unlink()
    _backup(backup, db_file)


def readable_hits(rt: Runtime) -> list[str]:
    """Every text value of every table (as the database returns it, decrypting customers'
    PII through the vault) that contains a personal value of the subject."""
    hits: list[str] = []
    with rt.db.reader() as uow:
        conn = uow.session.connection()
        for table in target_metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                text = " ".join(str(v) for v in row if not isinstance(v, bytes | bytearray))
                hits += [f"{table.name}:{n}" for n in NEEDLES if n in text.lower()]
        from strongbox.payments.models import Customer

        for c in uow.session.query(Customer):
            pii = str(c.pii_data()).lower()
            hits += [f"customers.pii:{n}" for n in NEEDLES if n in pii]
    return hits


def test_restored_backup_yields_no_personal_data(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        run_workers=False,
        gateway_retries=2,
        threads=8,
        public_url="http://testserver",
    )
    db_file = settings.data_dir / "strongbox.db"
    backup = tmp_path / "before-erasure.db"
    rt = build_runtime(settings)
    try:
        merchant = make_merchant(rt)
        with TestClient(create_app(rt, run_workers=False), raise_server_exceptions=False) as api:
            api.headers.update(merchant.headers)
            ids = seed(api, rt)
            assert readable_hits(rt)  # the subject's data is there to begin with
            _backup(db_file, backup)
            r = api.post(
                "/v1/privacy/requests", data={"type": "erasure", "customer": ids["customer"]}
            )
            assert r.status_code == 200, r.text
            request_id = r.json()["id"]
        assert readable_hits(rt) == []
    finally:
        rt.close()

    _restore(backup, db_file)
    # The restored copy holds the subject's key and plaintext copies again ...
    raw = sqlite3.connect(db_file)
    try:
        (events_with_email,) = raw.execute(
            "SELECT count(*) FROM events WHERE lower(data) LIKE ?", (f"%{EMAIL.lower()}%",)
        ).fetchone()
        (live_keys,) = raw.execute(
            "SELECT count(*) FROM vault_subject_keys WHERE subject_id = ? "
            "AND wrapped_key IS NOT NULL",
            (ids["customer"],),
        ).fetchone()
    finally:
        raw.close()
    assert events_with_email > 0
    assert live_keys == 1

    # ... until the runtime starts on it: the journalled erasure is applied again.
    rt = build_runtime(settings)
    try:
        assert readable_hits(rt) == []
        with rt.db.reader() as uow:
            req = uow.session.query(PrivacyRequest).filter_by(id=request_id).one()
            assert req.steps[0]["step"] == "reapplied"
            assert req.certificate is not None
            assert verify_ledger(uow.session).ok
        rt.audit.integrate(rt.db)
        report = rt.audit.verify(rt.db)
        assert report.ok, report.problems
    finally:
        rt.close()
    # Starting again changes nothing (the erasure is recorded under its request id).
    rt = build_runtime(settings)
    try:
        with rt.db.reader() as uow:
            assert uow.session.query(PrivacyRequest).count() == 1
        assert PHONE.lower() not in str(readable_hits(rt))
    finally:
        rt.close()
