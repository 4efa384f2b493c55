"""Crash and unknown-outcome recovery: resolved by asking the gateway, never by re-charging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from strongbox.connectors.base import AuthorizeRequest, OperationKind
from strongbox.core.params import validate_params
from strongbox.events.types import RequestContext
from strongbox.idempotency import service as idem
from strongbox.payments import gateway, intents
from strongbox.payments.deps import Payments
from strongbox.payments.schemas import CreatePaymentIntentParams
from strongbox.payments.steps import GatewayCall, GatewayOutcome
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once
from support import Merchant, expire_leases

FORM = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}
NOW = timedelta(0)


def _sim(rt: Runtime):  # type: ignore[no-untyped-def]
    assert rt.simulator is not None
    return rt.simulator


def _authorizations(rt: Runtime) -> int:
    return sum(1 for op in _sim(rt).operations() if op.kind == OperationKind.AUTHORIZE)


def test_timeout_leaves_processing_then_recovery_makes_it_definitive_under_the_same_key(
    api: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway has no record of the request (it hung, unprocessed). Recovery does not
    conclude "not charged", which a request still on its way could contradict: it re-sends
    the same request under the same key, so the outcome is decided once, at the gateway."""
    sent: list[AuthorizeRequest] = []
    execute = gateway.execute

    def spy(deps: Payments, call: GatewayCall) -> GatewayOutcome:
        if isinstance(call.request, AuthorizeRequest):
            sent.append(call.request)
        return execute(deps, call)

    monkeypatch.setattr(gateway, "execute", spy)
    _sim(runtime).inject("timeout", operations={OperationKind.AUTHORIZE})
    r = api.post("/v1/payment_intents", data=FORM)
    assert r.status_code == 200
    pi = r.json()
    assert pi["status"] == "processing"
    assert _sim(runtime).charges() == []
    assert recover_once(runtime, min_age=NOW) == 1
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["amount_received"] == 2000
    assert _authorizations(runtime) == 1
    [charge] = _sim(runtime).charges()
    history = api.get(f"/v1/payment_intents/{pi['id']}/history").json()
    assert history["status_changes"][-1]["cause"] == "recovery"
    # The re-sent request is the first one, under the same key; a straggler of the first
    # request arriving now cannot charge again.
    first, resent = sent
    assert resent == first
    straggler = _sim(runtime).process_authorize(first)
    assert straggler.gateway_reference == charge.reference
    assert len(_sim(runtime).charges()) == 1


def test_dropped_response_after_charge_recovers_as_succeeded_without_recharging(
    api: TestClient, runtime: Runtime
) -> None:
    _sim(runtime).inject("drop_response", operations={OperationKind.AUTHORIZE})
    pi = api.post("/v1/payment_intents", data=FORM).json()
    assert pi["status"] == "processing"
    assert len(_sim(runtime).charges()) == 1  # the gateway did charge
    # While unresolved, a new confirm is refused: no second authorization can start.
    again = api.post(f"/v1/payment_intents/{pi['id']}/confirm", data={})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"
    recover_once(runtime, min_age=NOW)
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["amount_received"] == 2000
    assert _authorizations(runtime) == 1
    assert len(_sim(runtime).charges()) == 1
    history = api.get(f"/v1/payment_intents/{pi['id']}/history").json()
    assert history["status_changes"][-1]["cause"] == "recovery"


def test_recovery_waits_for_young_attempts(api: TestClient, runtime: Runtime) -> None:
    _sim(runtime).inject("drop_response", operations={OperationKind.AUTHORIZE})
    api.post("/v1/payment_intents", data=FORM)
    assert recover_once(runtime, min_age=timedelta(minutes=5)) == 0
    assert recover_once(runtime, min_age=NOW) == 1
    assert recover_once(runtime, min_age=NOW) == 0  # nothing left open


def _phase1_with_key(rt: Runtime, m: Merchant, key: str) -> tuple[RequestContext, object]:
    """Run what the API does before the gateway call, and 'crash' right after committing."""
    svc = rt.payments
    params = validate_params(CreatePaymentIntentParams, FORM)
    with rt.db.unit_of_work() as uow:
        begun = idem.begin(
            uow,
            merchant_id=m.id,
            key=key,
            method="POST",
            path="/v1/payment_intents",
            request_fingerprint=idem.fingerprint("POST", "/v1/payment_intents", dict(FORM)),
            request_id="req_crash",
            lock_timeout=timedelta(seconds=90),
        )
        assert begun.record_id is not None
        ctx = RequestContext(merchant_id=m.id, actor="test", idempotency_record_id=begun.record_id)
        step = intents.create(svc, uow, ctx, params)
        idem.mark_attempt_created(uow, begun.record_id)
        uow.commit()
    assert step.call is not None
    return ctx, step


def test_crash_before_the_gateway_call_is_sent_once_by_recovery(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    _phase1_with_key(runtime, merchant, "crash-before")
    h = {"Idempotency-Key": "crash-before"}
    in_use = api.post("/v1/payment_intents", data=FORM, headers=h)
    assert in_use.status_code == 409
    assert recover_once(runtime, min_age=NOW) == 0  # the dead process's lease still holds it
    expire_leases(runtime)
    recover_once(runtime, min_age=NOW)
    # Nothing reached the gateway: recovery sent the request itself, once, under its key.
    replay = api.post("/v1/payment_intents", data=FORM, headers=h)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.status_code == 200
    assert replay.json()["status"] == "succeeded"
    assert _authorizations(runtime) == 1


def test_crash_after_the_gateway_answered_is_finished_by_recovery(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    _ctx, step = _phase1_with_key(runtime, merchant, "crash-after")
    outcome = gateway.execute(runtime.payments, step.call)  # type: ignore[attr-defined]
    assert outcome.result is not None  # charged; then the process "dies" before recording
    assert len(_sim(runtime).charges()) == 1
    expire_leases(runtime)
    recover_once(runtime, min_age=NOW)
    replay = api.post("/v1/payment_intents", data=FORM, headers={"Idempotency-Key": "crash-after"})
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["status"] == "succeeded"
    assert _authorizations(runtime) == 1
    events = api.get("/v1/events", params={"type": "payment_intent.succeeded"}).json()["data"]
    assert [e["data"]["object"]["id"] for e in events] == [replay.json()["id"]]


def test_a_5xx_is_retried_with_the_same_key_and_charges_once(
    api: TestClient, runtime: Runtime
) -> None:
    _sim(runtime).inject("error_5xx", operations={OperationKind.AUTHORIZE}, count=2)
    r = api.post("/v1/payment_intents", data=FORM)
    assert r.json()["status"] == "succeeded"
    assert len(_sim(runtime).charges()) == 1


def test_persistent_5xx_fails_with_502_and_nothing_charged(
    api: TestClient, runtime: Runtime
) -> None:
    _sim(runtime).inject("error_5xx", operations={OperationKind.AUTHORIZE}, count=10)
    r = api.post("/v1/payment_intents", data=FORM)
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["type"] == "api_error"
    assert err["code"] == "gateway_unavailable"
    assert err["payment_intent"]["status"] == "requires_payment_method"
    assert _sim(runtime).charges() == []


def test_capture_with_unknown_outcome_blocks_cancel_until_recovered(
    api: TestClient, runtime: Runtime
) -> None:
    pi = api.post("/v1/payment_intents", data={**FORM, "capture_method": "manual"}).json()
    assert pi["status"] == "requires_capture"
    _sim(runtime).inject("drop_response", operations={OperationKind.CAPTURE})
    cap = api.post(f"/v1/payment_intents/{pi['id']}/capture", data={"amount_to_capture": "1500"})
    assert cap.status_code == 502
    assert cap.json()["error"]["code"] == "gateway_outcome_unknown"
    cancel = api.post(f"/v1/payment_intents/{pi['id']}/cancel", data={})
    assert cancel.status_code == 400
    assert cancel.json()["error"]["code"] == "payment_intent_unexpected_state"
    recover_once(runtime, min_age=NOW)
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["amount_received"] == 1500
    assert _sim(runtime).charges()[0].captured_amount == 1500


def test_refund_timeout_is_resolved_once_under_its_key(api: TestClient, runtime: Runtime) -> None:
    pi = api.post("/v1/payment_intents", data=FORM).json()
    _sim(runtime).inject("timeout", operations={OperationKind.REFUND})
    refund = api.post("/v1/refunds", data={"payment_intent": pi["id"]}).json()
    assert refund["status"] == "pending"
    # The pending refund reserves the whole amount.
    blocked = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": "1"})
    assert blocked.json()["error"]["code"] == "charge_already_refunded"
    recover_once(runtime, min_age=NOW)
    # Not found at the gateway: re-sent under its key, refunded once.
    done = api.get(f"/v1/refunds/{refund['id']}").json()
    assert done["status"] == "succeeded"
    assert _sim(runtime).charges()[0].refunded_amount == 2000
    again = api.post("/v1/refunds", data={"payment_intent": pi["id"]})
    assert again.json()["error"]["code"] == "charge_already_refunded"
    listed = api.get("/v1/refunds", params={"payment_intent": pi["id"]}).json()["data"]
    assert [(r["id"], r["status"]) for r in listed] == [(refund["id"], "succeeded")]


def test_challenge_completed_at_the_gateway_is_picked_up_by_recovery(
    api: TestClient, runtime: Runtime
) -> None:
    pi = api.post(
        "/v1/payment_intents", data={**FORM, "payment_method": "pm_card_authenticationRequired"}
    ).json()
    assert pi["status"] == "requires_action"
    url = pi["next_action"]["redirect_to_url"]["url"]
    reference = url.rstrip("/").rsplit("/", 1)[1]
    _sim(runtime).complete_challenge(reference, True)  # not through our router: no callback
    assert api.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "requires_action"
    recover_once(runtime, min_age=NOW)
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "succeeded"
    assert after["next_action"] is None


def test_open_challenges_are_polled_soon_without_waiting_for_recovery(
    api: TestClient, runtime: Runtime
) -> None:
    pi = api.post(
        "/v1/payment_intents", data={**FORM, "payment_method": "pm_card_authenticationRequired"}
    ).json()
    reference = pi["next_action"]["redirect_to_url"]["url"].rstrip("/").rsplit("/", 1)[1]
    _sim(runtime).complete_challenge(reference, False)  # failed at the gateway, no callback
    # Too young for crash recovery, but due for a challenge poll.
    polled = recover_once(runtime, min_age=timedelta(minutes=5), action_poll=NOW)
    assert polled == 1
    after = api.get(f"/v1/payment_intents/{pi['id']}").json()
    assert after["status"] == "requires_payment_method"
    assert after["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    # Resolved: nothing is left to poll.
    assert recover_once(runtime, min_age=timedelta(minutes=5), action_poll=NOW) == 0
