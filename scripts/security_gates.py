"""Security gates run by ./scripts/test that need more than one command line.

``secrets``
    ``detect-secrets-hook`` over every tracked file against a scratch copy of
    ``.secrets.baseline``: any secret not in the baseline fails. Findings are matched by file
    and hashed secret, so lines that merely moved (a merge added lines above a known false
    positive) do not fail; the gate says when the baseline's line numbers are stale. Then
    every finding recorded in the baseline must have been audited as a false positive
    (``"is_secret": false``).

``pip-audit``
    Runs pip-audit on the hashed lock (PyPI's advisory data, per pinned version). Any known
    vulnerability fails. Where pip-audit cannot look a version up (this machine's network
    answers PyPI's per-version JSON API with 404 and cannot resolve OSV), the gate falls back
    to PyPI's per-project JSON, whose ``vulnerabilities`` list describes the latest release:
    it audits a pin that is the latest release, and reports every other pin as NOT AUDITED by
    name. ``STRONGBOX_AUDIT_REQUIRED=1`` turns any unaudited pin into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - runs pip-audit from this virtualenv with fixed arguments
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
BASELINE = ROOT / ".secrets.baseline"
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"


def secrets() -> int:
    files = subprocess.run(  # nosec B603 B607 - git with fixed arguments
        ["git", "ls-files", "-z"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    files = [f for f in files if f and f != BASELINE.name]
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "baseline.json"
        shutil.copy(BASELINE, scratch)
        hook = subprocess.run(  # noqa: S603  # nosec B603 - fixed arguments, no shell
            [str(Path(sys.executable).parent / "detect-secrets-hook"), "--baseline",
             str(scratch), *files],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
        )  # fmt: skip
        moved = scratch.read_text() != BASELINE.read_text()
    output = hook.stdout + hook.stderr
    if "Potential secrets" in output or (hook.returncode != 0 and not moved):
        print(output)
        print("detect-secrets: new secrets (see above). Remove them, or if they are fake, run")
        print("  detect-secrets scan --baseline .secrets.baseline && detect-secrets audit "
              ".secrets.baseline")  # fmt: skip
        return 1
    if moved:
        print("detect-secrets: known findings moved to other lines; refresh the baseline with "
              "`detect-secrets scan --baseline .secrets.baseline` when convenient")  # fmt: skip
    return secrets_baseline()


def secrets_baseline() -> int:
    results = json.loads(BASELINE.read_text())["results"]
    bad = [
        f"{path}:{item['line_number']} ({item['type']})"
        for path, items in results.items()
        for item in items
        if item.get("is_secret") is not False
    ]
    if bad:
        print("detect-secrets: findings in .secrets.baseline not audited as false positives:")
        for line in bad:
            print("  " + line)
        print("Audit them (detect-secrets audit .secrets.baseline) or remove the secret.")
        return 1
    count = sum(len(items) for items in results.values())
    print(f"detect-secrets: no new secrets; {count} audited false positive(s) in the baseline")
    return 0


def _latest_release_vulns(name: str, version: str) -> tuple[str, list[str] | None]:
    """Advisory ids for ``name==version`` from the project JSON, or None if not auditable."""
    try:
        r = httpx.get(PYPI_PROJECT.format(name=name), timeout=20, follow_redirects=True)
        r.raise_for_status()
        data: dict[str, Any] = r.json()
    except (httpx.HTTPError, ValueError):
        return name, None
    if data.get("info", {}).get("version") != version:
        return name, None
    return name, [str(v.get("id")) for v in data.get("vulnerabilities") or []]


def pip_audit() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        proc = subprocess.run(  # noqa: S603  # nosec B603 - fixed argument list, no shell
            [
                str(Path(sys.executable).parent / "pip-audit"),
                "--requirement",
                str(LOCK),
                "--require-hashes",
                "--disable-pip",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                str(out),
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if not out.exists():
            print(proc.stdout + proc.stderr)
            print("pip-audit did not produce a report")
            return 1
        deps: list[dict[str, Any]] = json.loads(out.read_text())["dependencies"]

    findings: list[str] = []
    audited: list[str] = []
    skipped: dict[str, str] = {}
    for dep in deps:
        name, version = dep["name"], dep.get("version")
        if dep.get("skip_reason"):
            version = version or dep["skip_reason"].rsplit("(", 1)[-1].rstrip(")")
            skipped[name] = version
            continue
        audited.append(name)
        findings += [f"{name}=={version}: {v['id']}" for v in dep.get("vulns", [])]

    unaudited: list[str] = []
    if skipped:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = pool.map(lambda nv: _latest_release_vulns(*nv), skipped.items())
            for name, vulns in answers:
                if vulns is None:
                    unaudited.append(f"{name}=={skipped[name]}")
                else:
                    audited.append(name)
                    findings += [f"{name}=={skipped[name]}: {v}" for v in vulns]

    print(
        f"pip-audit: {len(deps)} locked packages; {len(audited)} audited "
        f"({len(deps) - len(skipped)} by pip-audit, {len(skipped) - len(unaudited)} through "
        f"PyPI's latest-release advisories); {len(unaudited)} NOT AUDITED"
    )
    if unaudited:
        print(
            "  not audited (no vulnerability service answers for these pinned versions from "
            "here): " + ", ".join(sorted(unaudited))
        )
    if findings:
        print("pip-audit: known vulnerabilities in locked dependencies:")
        for line in findings:
            print("  " + line)
        return 1
    if unaudited and os.environ.get("STRONGBOX_AUDIT_REQUIRED") == "1":
        print("STRONGBOX_AUDIT_REQUIRED=1: failing because some pins could not be audited")
        return 1
    return 0


def main() -> int:
    gates = {"secrets": secrets, "pip-audit": pip_audit}
    if len(sys.argv) != 2 or sys.argv[1] not in gates:
        print(f"usage: security_gates.py {{{','.join(gates)}}}", file=sys.stderr)
        return 2
    return gates[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
