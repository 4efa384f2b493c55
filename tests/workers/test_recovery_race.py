"""Recovery against a live request: the timeline of issue 23 item 1, reproduced.

The simulator runs as its own service (``strongbox simulator serve`` in a subprocess); its
first authorization hangs 3 s and answers 504 (not processed), so the live request retries the
same gateway idempotency key and is captured. Meanwhile recovery passes run with a 1 s minimum
age, as ``STRONGBOX_RECOVERY_AFTER_SECONDS=1`` once made them. Recovery must leave the attempt
alone while its request is alive, and the customer's charge must end up on the intent and in
the ledger.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.core.settings import Settings
from strongbox.ledger.handlers import capture_id
from strongbox.runtime import Runtime, build_runtime
from strongbox.workers.recovery import recover_once
from support import free_port, make_merchant

FORM = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


@pytest.fixture
def simulator_service() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "strongbox.cli.main", "simulator", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/_control/faults", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the simulator service did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def remote_runtime(settings: Settings, simulator_service: str) -> Iterator[Runtime]:
    rt = build_runtime(
        settings.model_copy(
            update={
                "simulator_url": simulator_service,
                "gateway_timeout_seconds": 10.0,
                # renewed while the call runs: a 3 s call outlives several leases
                "attempt_lease_seconds": 1.0,
            }
        )
    )
    rt.payments.config = replace(rt.payments.config, retry_initial_seconds=0.001)
    yield rt
    rt.close()


def test_recovery_never_resolves_an_attempt_whose_request_is_still_waiting(
    remote_runtime: Runtime, simulator_service: str
) -> None:
    control = httpx.Client(base_url=simulator_service, timeout=10)
    control.post("/_control/latency", json={"latency_ms": 0, "hang_ms": 3000}).raise_for_status()
    control.post(
        "/_control/faults", json={"fault": "timeout", "operations": ["authorize"], "count": 1}
    ).raise_for_status()
    m = make_merchant(remote_runtime)
    answer: dict[str, Any] = {}

    with TestClient(create_app(remote_runtime, run_workers=False)) as api:
        api.headers.update(m.headers)

        def live() -> None:
            r = api.post("/v1/payment_intents", data=FORM, headers={"Idempotency-Key": "race-1"})
            answer["status"], answer["body"] = r.status_code, r.json()

        request = threading.Thread(target=live)
        request.start()
        passes = 0
        while request.is_alive():
            # what STRONGBOX_RECOVERY_AFTER_SECONDS=1 did: every attempt older than 1 s
            recover_once(remote_runtime, min_age=timedelta(seconds=1))
            passes += 1
            request.join(0.2)
        assert passes >= 5  # recovery really ran while the request waited on the gateway

        assert answer["status"] == 200, answer
        pi = answer["body"]
        assert pi["status"] == "succeeded"
        assert pi["amount_received"] == 2000
        replay = api.post("/v1/payment_intents", data=FORM, headers={"Idempotency-Key": "race-1"})
        assert replay.json()["status"] == "succeeded"
        history = api.get(f"/v1/payment_intents/{pi['id']}/history").json()["status_changes"]
        assert all(change["cause"] != "recovery" for change in history)

    charges = control.get("/_control/charges").json()["data"]
    assert len(charges) == 1
    assert charges[0]["captured_amount"] == 2000
    with remote_runtime.db.reader() as uow:
        found = remote_runtime.ledger.find_transfers(uow.session, m.id, [capture_id(pi["id"])])
    assert found[capture_id(pi["id"])].amount == 2000
