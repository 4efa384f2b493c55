"""The workers run the compliance checks once a day (after a start-up delay)."""

from __future__ import annotations

import pytest

from compliance.conftest import good_probe
from strongbox.compliance import repository
from strongbox.compliance.vulnscan import NoScan
from strongbox.db.pagination import PageRequest
from strongbox.runtime import Runtime
from strongbox.workers import compliance as wiring
from strongbox.workers.loops import build_workers


def _reports(runtime: Runtime) -> int:
    with runtime.db.read() as s:
        return len(repository.list_reports(s, PageRequest(limit=100)).data)


def test_the_loop_is_registered(runtime: Runtime) -> None:
    names = {loop.name for loop in build_workers(runtime).loops}
    assert "strongbox-compliance" in names


def test_a_run_is_made_when_due_and_not_again_within_the_interval(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[object] = []
    monkeypatch.setattr(wiring, "pip_audit", lambda p: scans.append(p) or NoScan("offline"))
    monkeypatch.setattr(wiring, "http_probe", lambda _rt: good_probe())
    delayed = wiring.daily_once(runtime, delay_seconds=3600)
    assert delayed() == 0
    assert _reports(runtime) == 0  # still in the start-up delay
    once = wiring.daily_once(runtime, delay_seconds=0)
    once()
    assert (_reports(runtime), len(scans)) == (1, 1)
    once()
    assert (_reports(runtime), len(scans)) == (1, 1)
