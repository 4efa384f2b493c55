"""pip-audit's output read into a scan; no scan (never a failure of the run) without data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strongbox.compliance import vulnscan
from strongbox.compliance.vulnscan import NoScan, ScanOutcome
from strongbox.runtime import Runtime
from strongbox.workers import compliance as wiring


def test_pip_audit_json_is_parsed() -> None:
    out = json.dumps(
        {
            "dependencies": [
                {
                    "name": "jinja2",
                    "version": "3.0.0",
                    "vulns": [{"id": "GHSA-1", "fix_versions": ["3.1.3"]}],
                },
                {"name": "httpx", "version": "0.28.1", "vulns": []},
            ]
        }
    )
    scan = vulnscan.parse_pip_audit("lock.txt", out)
    assert (scan.dependencies, len(scan.findings)) == (2, 1)
    assert scan.findings[0] == {
        "package": "jinja2",
        "version": "3.0.0",
        "advisory": "GHSA-1",
        "fix_versions": ["3.1.3"],
    }


def test_no_lock_file_is_no_scan(tmp_path: Path) -> None:
    assert isinstance(vulnscan.pip_audit(tmp_path / "missing.txt"), NoScan)


def test_a_scan_is_recorded_only_when_it_ran(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.txt"
    monkeypatch.setattr(wiring, "pip_audit", lambda _p: NoScan("advisory data unreachable"))
    assert isinstance(wiring.scan(runtime, lock), NoScan)
    monkeypatch.setattr(wiring, "pip_audit", lambda _p: ScanOutcome("pip-audit", "lock.txt", 9, []))
    wiring.scan(runtime, lock)
    from strongbox.compliance import repository

    with runtime.db.read() as s:
        scan = repository.latest_scan(s)
    assert scan is not None
    assert (scan.dependencies, scan.vulnerable) == (9, 0)
