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
import pytest

from strongbox.core.settings import Settings
from support import free_port


def _start(
    data_dir: Path, port: int, *extra: str, env_extra: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGBOX_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["STRONGBOX_DATA_DIR"] = str(data_dir)
    env.update(env_extra or {})
    metrics = () if "--metrics-port" in extra else ("--metrics-port", "0")
    args = ["serve", "--port", str(port), *metrics, *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "strongbox.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
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
    out, _ = proc.communicate(timeout=120)
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


def _pay(url: str, sk: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/payment_intents",
        auth=(sk, ""),
        data={"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa"},
        timeout=60,
    )


def test_metrics_are_on_their_own_loopback_listener_not_the_api_port(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(tmp_path / "data", port, "--metrics-port", str(metrics_port))
    try:
        _wait_ready(url, proc)
        assert httpx.get(url + "/metrics", timeout=60).status_code == 404
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=60).text
    finally:
        out = _stop(proc)
    assert f"Metrics on http://127.0.0.1:{metrics_port}/metrics" in out
    assert 'strongbox_http_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_a_busy_metrics_port_is_an_error_not_a_silent_gap(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        proc = _start(tmp_path / "data", free_port(), "--metrics-port", str(taken))
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "metrics listener cannot listen" in out


def test_several_processes_share_one_metrics_listener(settings: Settings) -> None:
    """``serve --processes 2`` (PostgreSQL): every process's requests are counted by the
    one listener in the supervising process."""
    if settings.database_url is None:
        pytest.skip("several processes need PostgreSQL")
    port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(
        settings.data_dir,
        port,
        "--processes",
        "2",
        "--no-workers",
        "--metrics-port",
        str(metrics_port),
        env_extra={"STRONGBOX_DATABASE_URL": settings.database_url},
    )
    try:
        _wait_ready(url, proc)
        # A fresh connection each time, so both processes take some of the requests.
        for _ in range(20):
            assert httpx.get(url + "/healthz", timeout=60).status_code == 200
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=60).text
    finally:
        out = _stop(proc)
    line = 'strongbox_http_requests_total{method="GET",route="/healthz",status="200"} '
    [count] = [ln[len(line) :] for ln in text.splitlines() if ln.startswith(line)]
    assert float(count) >= 21, out  # every request, whichever process answered it


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


def test_serve_with_an_internal_mtls_listener(tmp_path: Path) -> None:
    """``pki init`` + ``pki issue`` then ``serve --internal-port``: the internal API answers a
    registered service over mutual TLS and refuses a client without a certificate."""
    import json
    import ssl

    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGBOX_")}
    env["STRONGBOX_DATA_DIR"] = str(data_dir)
    cli = [sys.executable, "-m", "strongbox.cli.main"]
    subprocess.run([*cli, "pki", "init"], env=env, check=True, capture_output=True)
    issued = subprocess.run(
        [*cli, "pki", "issue", "worker", "--permission", "audit:read"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    files = json.loads(issued.stdout)
    port, internal = free_port(), free_port()
    proc = _start(data_dir, port, "--internal-port", str(internal))
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        ctx = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.pem"))
        ctx.load_cert_chain(files["certificate"], files["key"])
        url = f"https://127.0.0.1:{internal}/internal/whoami"

        def whoami() -> httpx.Response | None:
            try:
                return httpx.get(url, verify=ctx, timeout=5)
            except httpx.ConnectError:
                return None  # the listener's thread is still binding

        from support import wait_until

        me = wait_until(whoami, "the internal listener to answer")
        assert me.status_code == 200
        assert me.json()["name"] == "worker"
        anonymous = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.pem"))
        with pytest.raises(httpx.TransportError):
            httpx.get(url, verify=anonymous, timeout=5)
    finally:
        out = _stop(proc)
    assert f"Internal API (mutual TLS) on https://127.0.0.1:{internal}/internal/" in out
