"""Schemathesis against a live Strongbox server: every operation of /openapi.json.

1. Starts ``strongbox serve`` (its own process, a temporary SQLite data directory, a free
   port on 127.0.0.1, rate limits off so the run measures behaviour, not throttling).
2. Creates a merchant and a few real objects (customers, payment methods, intents in several
   states, a refund, a 3DS challenge) so that path parameters hit existing objects half of the
   time (schemathesis dictionaries) besides the generated ids and the objects the stateful
   phase creates through the document's links.
3. Runs ``schemathesis run`` with a valid secret key and every check except
   ``positive_data_acceptance`` (see docs/security.md: a schema cannot say that a currency
   must exist or that a capture needs an authorized intent, so schema-valid requests are
   legitimately refused with 400) and ``use_after_free`` (Stripe returns a deleted customer
   as ``{"id", "object", "deleted": true}`` with 200, not 404), ``--max-examples`` per
   operation (default 25).
4. Fails when schemathesis reports any failure (5xx, a response that breaks the documented
   schema, status code or content type, a schema-violating request accepted, auth ignored,
   ...), when fewer than ``--min-cases`` (default 2,000) cases were generated, or when the
   server logged an error.

Usage: ``scripts/fuzz [--max-examples N] [--min-cases N] [--seed N]`` (the seed defaults to a
fixed value, or ``STRONGBOX_FUZZ_SEED``; ``--seed 0`` draws a random one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess  # nosec B404 - starts our own server and schemathesis, fixed arguments
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"fuzz: the server exited early with status {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("fuzz: the server did not become healthy")


def seed(base: str, key: str) -> dict[str, list[str]]:
    """Real objects of the fuzzing merchant, by path parameter name."""
    c = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def post(path: str, **data: str) -> dict[str, Any]:
        r = c.post(path, data=data)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    ids: dict[str, list[str]] = {k: [] for k in ("customer", "pm", "intent", "refund", "ref")}
    for n in range(2):
        cus = post("/v1/customers", email=f"fuzz{n}@example.com", name=f"Fuzz {n}")
        ids["customer"].append(cus["id"])
        pm = post("/v1/payment_methods/pm_card_visa/attach", customer=cus["id"])
        ids["pm"].append(pm["id"])
    card = {"payment_method": "pm_card_visa", "confirm": "true"}
    paid = post("/v1/payment_intents", amount="5000", currency="usd", **card)
    held = post(
        "/v1/payment_intents", amount="3000", currency="eur", capture_method="manual", **card
    )
    open_ = post("/v1/payment_intents", amount="1000", currency="usd")
    challenge = post(
        "/v1/payment_intents",
        amount="2000",
        currency="usd",
        payment_method="pm_card_authenticationRequired",
        confirm="true",
        return_url="https://example.com/back",
    )
    ids["intent"] += [paid["id"], held["id"], open_["id"], challenge["id"]]
    ids["refund"].append(post("/v1/refunds", payment_intent=paid["id"], amount="100")["id"])
    url = (challenge.get("next_action") or {}).get("redirect_to_url", {}).get("url", "")
    if "/3ds/" in url:
        ids["ref"].append(url.rsplit("/3ds/", 1)[1].split("?")[0])
    events = c.get("/v1/events", params={"limit": "5"}).json()["data"]
    ids["event"] = [e["id"] for e in events]
    c.close()
    return ids


def write_config(path: Path, ids: dict[str, list[str]]) -> None:
    params = {
        "customer_id": "customer",
        "pm_id": "pm",
        "intent_id": "intent",
        "refund_id": "refund",
        "event_id": "event",
        "reference": "ref",
    }
    lines: list[str] = []
    for kind in params.values():
        if ids.get(kind):
            lines.append(f"[dictionaries.{kind}]")
            lines.append("values = " + json.dumps(ids[kind]))
            lines.append("")
    lines.append("[parameters]")
    for name, kind in params.items():
        if ids.get(kind):
            lines.append(f'"path.{name}" = {{ dictionary = "{kind}", probability = 0.5 }}')
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-examples", type=int, default=25)
    ap.add_argument("--min-cases", type=int, default=2000)
    ap.add_argument(
        "--seed",
        type=int,
        default=int(os.environ.get("STRONGBOX_FUZZ_SEED", "20261201")),
        help="schemathesis seed (default fixed, so a CI failure reproduces; 0 = random)",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="strongbox-fuzz-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "STRONGBOX_DATA_DIR": str(work / "data"),
        "STRONGBOX_RATE_LIMIT_PER_SECOND": "0",
        "STRONGBOX_RATE_LIMIT_PER_ADDRESS_PER_SECOND": "0",
        "STRONGBOX_PUBLIC_URL": base,
        "STRONGBOX_LOG_LEVEL": "WARNING",
    }
    for name in ("STRONGBOX_DATABASE_URL", "STRONGBOX_REDIS_URL", "STRONGBOX_SIMULATOR_URL"):
        env.pop(name, None)
    made = subprocess.run(  # noqa: S603  # nosec B603
        [str(BIN / "strongbox"), "merchants", "create", "fuzz"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = json.loads(made.stdout)["secret_key"]
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: S603  # nosec B603
        [str(BIN / "strongbox"), "serve", "--port", str(port), "--metrics-port", "0"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(base, server)
        config = work / "schemathesis.toml"
        write_config(config, seed(base, key))
        command = [
            str(BIN / "schemathesis"),
            "--config-file",
            str(config),
            "run",
            base + "/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance,use_after_free",
            "--max-examples",
            str(args.max_examples),
            # One worker: with two, hypothesis threads describing strategies concurrently hit
            # CPython 3.11's "AST constructor recursion depth mismatch" SystemError (the AST
            # validator's depth counter is not thread-safe), a tool error, not a finding.
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
        ]
        if args.seed:
            command += ["--seed", str(args.seed)]
        started = time.monotonic()
        run = subprocess.run(  # noqa: S603  # nosec B603
            command, cwd=work, check=False, capture_output=True, text=True
        )
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    output = (run.stdout + run.stderr).replace(key, "sk_test_[REDACTED]")
    (work / "schemathesis.log").write_text(output)  # the whole report, kept with the files
    print(output[-12_000:])
    generated = re.search(r"(\d+) generated", output)
    cases = int(generated.group(1)) if generated else 0
    server_log = (work / "server.log").read_text(errors="replace")
    errors = [
        line
        for line in server_log.splitlines()
        if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line or "Traceback" in line
    ]
    print(f"fuzz: {cases} test cases in {elapsed:.0f} s (schemathesis exit {run.returncode})")
    failed = False
    if run.returncode != 0:
        print("fuzz: FAILED: schemathesis reported failures (see above)")
        failed = True
    if cases < args.min_cases:
        print(f"fuzz: FAILED: only {cases} test cases generated (at least {args.min_cases})")
        failed = True
    if errors:
        print("fuzz: FAILED: the server logged errors:\n  " + "\n  ".join(errors[:20]))
        failed = True
    if failed:
        print(f"fuzz: files kept in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
