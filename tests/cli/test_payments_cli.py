"""``strongbox payments attempts|resolve`` against the test's database."""

from __future__ import annotations

import json
import time
from typing import Any

from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.connectors.base import OperationKind
from strongbox.payments import intents
from strongbox.runtime import Runtime
from support import Merchant, expire_leases


def run(env: dict[str, str | None], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["payments", *args], env=env)
    assert result.exit_code == code, result.output + repr(result.exception)
    return json.loads(result.stdout) if code == 0 else result


def test_an_unknown_authorization_resolved_as_not_processed(
    cli_env: dict[str, str | None], runtime: Runtime, merchant: Merchant, api: Any
) -> None:
    assert runtime.simulator is not None
    runtime.simulator.inject("timeout", operations={OperationKind.AUTHORIZE})
    form = {"amount": "1500", "currency": "usd", "payment_method": "pm_card_visa"}
    pi = api.post("/v1/payment_intents", data={**form, "confirm": "true"}).json()
    assert pi["status"] == "processing"
    [attempt] = run(cli_env, "attempts", "--merchant", merchant.id, pi["id"])["data"]
    assert attempt["status"] == "unknown"
    assert attempt["gateway_idempotency_key"]
    resolve = ["resolve", "--merchant", merchant.id, attempt["id"], "--outcome"]
    bad = run(cli_env, *resolve, "refunded", "--note", "x", code=1)
    assert json.loads(bad.stderr)["error"]["param"] == "outcome"
    out = run(cli_env, *resolve, "not_processed", "--note", "not in the gateway's dashboard")
    assert out["attempt"]["status"] == "failed"
    assert out["payment_intent"] == {"id": pi["id"], "status": "requires_payment_method"}
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == (
        "requires_payment_method"
    )
    again = run(cli_env, *resolve, "not_processed", "--note", "twice", code=1)
    assert json.loads(again.stderr)["error"]["code"] == "payment_intent_unexpected_state"


def test_unknown_merchant_is_refused(cli_env: dict[str, str | None], runtime: Runtime) -> None:
    result = run(cli_env, "attempts", "--merchant", "acct_nope", "pi_x", code=2)
    assert "no such merchant" in result.output


def test_a_start_that_died_is_resolved_once_older_than_the_recovery_age(
    cli_env: dict[str, str | None], runtime: Runtime, merchant: Merchant, api: Any
) -> None:
    """The process died after recording the attempt, before the gateway call: the attempt is
    ``started`` and the client's Idempotency-Key answers 409 until the outcome is stored."""
    from datetime import timedelta

    from strongbox.core.params import validate_params
    from strongbox.events.types import RequestContext
    from strongbox.idempotency import service as idem
    from strongbox.payments.schemas import CreatePaymentIntentParams

    form = {"amount": "1500", "currency": "usd", "payment_method": "pm_card_visa"}
    form["confirm"] = "true"
    with runtime.db.unit_of_work() as uow:
        begun = idem.begin(
            uow,
            merchant_id=merchant.id,
            key="died",
            method="POST",
            path="/v1/payment_intents",
            request_fingerprint=idem.fingerprint("POST", "/v1/payment_intents", dict(form)),
            request_id="req_died",
            lock_timeout=timedelta(seconds=90),
        )
        assert begun.record_id is not None
        ctx = RequestContext(
            merchant_id=merchant.id, actor="t", idempotency_record_id=begun.record_id
        )
        step = intents.create(
            runtime.payments, uow, ctx, validate_params(CreatePaymentIntentParams, form)
        )
        idem.mark_attempt_created(uow, begun.record_id)
        uow.commit()
    assert step.intent is not None
    [attempt] = run(cli_env, "attempts", "--merchant", merchant.id, step.intent.id)["data"]
    assert attempt["status"] == "started"
    args = ["resolve", "--merchant", merchant.id, attempt["id"], "--outcome", "not_processed"]
    args += ["--note", "not in the gateway's dashboard"]
    env = {**cli_env, "STRONGBOX_RECOVERY_AFTER_SECONDS": "3600"}
    held = run(env, *args, code=1)  # its process's lease still holds it: refused
    assert "in flight" in json.loads(held.stderr)["error"]["message"]
    expire_leases(runtime)  # the process died: its lease ran out
    young = run(env, *args, code=1)  # but younger than the recovery age: may be in flight
    assert json.loads(young.stderr)["error"]["param"] == "attempt"
    # A recovery age of 1 s is accepted only with gateway calls that cannot last that long.
    env["STRONGBOX_RECOVERY_AFTER_SECONDS"] = "1"
    env["STRONGBOX_GATEWAY_RETRIES"] = "0"
    env["STRONGBOX_GATEWAY_TIMEOUT_SECONDS"] = "0.5"
    env["STRONGBOX_GATEWAY_CONNECT_TIMEOUT_SECONDS"] = "0.25"
    deadline = time.monotonic() + 60
    while True:  # the attempt must be older than 1 s
        result = CliRunner().invoke(app, ["payments", *args], env=env)
        if result.exit_code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["attempt"]["status"] == "failed"
    replay = api.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": "died"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["error"]["payment_intent"]["status"] == "requires_payment_method"
    assert runtime.simulator is not None
    assert runtime.simulator.charges() == []
