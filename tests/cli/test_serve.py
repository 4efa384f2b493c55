"""`strongbox serve` as a user runs it: a real process on a free port."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support import free_port


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGBOX_")}
    env["STRONGBOX_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "strongbox.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not become ready")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    return out


def test_first_start_prints_dev_keys_once_and_they_work(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port)
    try:
        _wait_ready(url, proc)
    finally:
        first = _stop(proc)
    sk = re.search(r"secret key\s+(sk_test_\w+)", first)
    pk = re.search(r"publishable key\s+(pk_test_\w+)", first)
    assert sk is not None, first
    assert pk is not None, first
    assert f"curl http://127.0.0.1:{port}/v1/payment_intents -u {sk.group(1)}:" in first
    # Embedded SQLite with owner-only permissions.
    assert stat.S_IMODE((data_dir / "strongbox.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700

    proc = _start(data_dir, port)
    try:
        _wait_ready(url, proc)
        paid = httpx.post(
            url + "/v1/payment_intents",
            auth=(sk.group(1), ""),
            data={
                "amount": "2000",
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        )
    finally:
        second = _stop(proc)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "succeeded"
    assert "sk_test_" not in second  # keys are shown only on the first start


def test_serve_refuses_a_recovery_age_shorter_than_the_longest_gateway_call(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGBOX_")}
    env["STRONGBOX_DATA_DIR"] = str(tmp_path / "data")
    env["STRONGBOX_RECOVERY_AFTER_SECONDS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "strongbox.cli.main", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("strongbox: invalid settings: STRONGBOX_RECOVERY_AFTER_SECONDS=1 ")
    assert "longest gateway call" in line
    assert not (tmp_path / "data").exists()  # refused before anything was created
