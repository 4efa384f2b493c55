"""scripts/lockcheck.py: the committed lock matches pyproject.toml, and a drift is refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp: Path) -> Path:
    (tmp / "scripts").mkdir()
    (tmp / "requirements").mkdir()
    shutil.copy(ROOT / "scripts" / "lockcheck.py", tmp / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp)
    shutil.copy(ROOT / "requirements" / "lock.txt", tmp / "requirements")
    return tmp


def _check(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(tree / "scripts" / "lockcheck.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_committed_lock_is_current_and_hashed(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert _check(tree).returncode == 0
    lock = (tree / "requirements" / "lock.txt").read_text()
    pins = [line for line in lock.splitlines() if "==" in line and not line.startswith(" ")]
    assert len(pins) > 30
    assert lock.count("--hash=sha256:") >= len(pins)


def test_a_changed_dependency_is_refused_until_relocked(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"redis>=5",', '"redis>=5",\n  "x>=1",'))
    r = _check(tree)
    assert r.returncode == 1
    assert "run ./scripts/lock" in r.stderr
    assert _check(tree, "--write").returncode == 0  # what scripts/lock does after pip-compile
    assert _check(tree).returncode == 0
    (tree / "requirements" / "lock.txt").unlink()
    assert "missing" in _check(tree).stderr
