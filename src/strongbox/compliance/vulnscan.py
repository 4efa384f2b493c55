"""Dependency scans (PCI DSS 6.3.3 / 11.3.1): pip-audit over the hashed lock file.

pip-audit asks the advisory service (PyPI's, OSV's) over the network. When it is not
installed, or its advisory data cannot be reached, there is no scan: the controls then report
the age of the last recorded one. A scan is never run inside a database transaction.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess  # nosec B404 - runs pip-audit, a fixed argument list, no shell
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOL = "pip-audit"


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    tool: str
    target: str
    dependencies: int
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NoScan:
    reason: str


def parse_pip_audit(target: str, text: str) -> ScanOutcome:
    """pip-audit's ``--format json`` output: dependencies and their known vulnerabilities."""
    doc = json.loads(text)
    deps = doc.get("dependencies", []) if isinstance(doc, dict) else doc
    findings = [
        {
            "package": str(d.get("name")),
            "version": str(d.get("version")),
            "advisory": str(v.get("id")),
            "fix_versions": [str(x) for x in v.get("fix_versions", [])],
        }
        for d in deps
        for v in d.get("vulns", [])
    ]
    return ScanOutcome(TOOL, target, len(deps), findings)


def pip_audit(lock: Path, *, timeout: float = 300.0) -> ScanOutcome | NoScan:
    if not lock.is_file():
        return NoScan(f"{lock} does not exist")
    if importlib.util.find_spec("pip_audit") is None:
        return NoScan("pip-audit is not installed")
    cmd = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(lock),
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    try:
        proc = subprocess.run(  # noqa: S603 # nosec B603 - fixed arguments, no shell
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return NoScan(f"pip-audit did not finish in {timeout:g} s")
    try:
        return parse_pip_audit(lock.name, proc.stdout)
    except (ValueError, AttributeError, TypeError):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return NoScan(f"the advisory data could not be reached ({last})")
