"""Random sequences of API operations keep Strongbox and the simulated gateway in agreement.

Each Hypothesis example drives a few PaymentIntents through random creates, confirms (with
random test methods), 3DS outcomes, captures, cancels and refunds over HTTP. After every step
the invariants below are checked for every intent touched so far, against both the API and
the simulator's own record of what it captured and refunded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongbox.connectors.simulator.engine import ChargeStatus
from strongbox.payments import repository
from strongbox.runtime import Runtime
from support import STRIPE_STATUSES, Merchant

METHODS = [
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_chargeDeclinedExpiredCard",
    "pm_card_authenticationRequired",
]
REASONS = [None, "duplicate", "fraudulent", "requested_by_customer", "abandoned"]

_amount = st.integers(min_value=50, max_value=5000)
_maybe_amount = st.one_of(st.none(), st.integers(min_value=-5, max_value=6000))
_target = st.integers(min_value=0, max_value=3)

Op = tuple[Any, ...]
OPERATIONS = st.one_of(
    st.tuples(
        st.just("create"),
        st.sampled_from(["automatic", "manual"]),
        _amount,
        st.one_of(st.none(), st.sampled_from(METHODS)),
        st.booleans(),
    ),
    st.tuples(st.just("confirm"), _target, st.one_of(st.none(), st.sampled_from(METHODS))),
    st.tuples(st.just("three_ds"), _target, st.booleans()),
    st.tuples(st.just("capture"), _target, _maybe_amount),
    st.tuples(st.just("cancel"), _target, st.sampled_from(REASONS)),
    st.tuples(st.just("refund"), _target, _maybe_amount, st.booleans()),
)


@dataclass
class Model:
    """What the test itself knows: the intents of this example."""

    intents: list[str] = field(default_factory=list)
    challenges: dict[str, str] = field(default_factory=dict)  # intent -> 3DS page path

    def pick(self, index: int) -> str | None:
        return self.intents[index % len(self.intents)] if self.intents else None


def _apply(api: TestClient, model: Model, op: Op) -> Any:
    """Run one operation; returns the response (None if the op had no target)."""
    kind = op[0]
    if kind == "create":
        _, capture_method, amount, method, confirm = op
        data = {"amount": str(amount), "currency": "usd", "capture_method": capture_method}
        if method is not None:
            data["payment_method"] = method
            if confirm:
                data["confirm"] = "true"
        r = api.post("/v1/payment_intents", data=data)
        body = r.json()
        pi = body if r.status_code == 200 else body.get("error", {}).get("payment_intent")
        if pi is not None:
            model.intents.append(pi["id"])
        return r
    target = model.pick(op[1])
    if target is None:
        return None
    if kind == "confirm":
        data = {} if op[2] is None else {"payment_method": op[2]}
        return api.post(f"/v1/payment_intents/{target}/confirm", data=data)
    if kind == "three_ds":
        path = model.challenges.get(target)
        if path is None:
            return None
        verb = "complete" if op[2] else "fail"
        return api.post(f"{path}/{verb}", headers={"Accept": "application/json"})
    if kind == "capture":
        data = {} if op[2] is None else {"amount_to_capture": str(op[2])}
        return api.post(f"/v1/payment_intents/{target}/capture", data=data)
    if kind == "cancel":
        data = {} if op[2] is None else {"cancellation_reason": op[2]}
        return api.post(f"/v1/payment_intents/{target}/cancel", data=data)
    assert kind == "refund"
    _, _, amount, by_charge = op
    data = {} if amount is None else {"amount": str(amount)}
    if by_charge:
        charge = api.get(f"/v1/payment_intents/{target}").json()["latest_charge"]
        if charge is None:
            return None
        data["charge"] = charge
    else:
        data["payment_intent"] = target
    return api.post("/v1/refunds", data=data)


def _check_response(r: Any, op: Op) -> None:
    if r is None:
        return
    # No faults are injected, so nothing may fail on our side or the gateway's.
    assert r.status_code < 500, (op, r.status_code, r.text[:500])
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"error"}, (op, body)
        assert body["error"]["type"] in ("invalid_request_error", "card_error"), (op, body)
        assert body["error"]["message"]
        if r.status_code == 402:
            assert body["error"]["type"] == "card_error"


def _check_invariants(api: TestClient, runtime: Runtime, merchant: Merchant, model: Model) -> None:
    sim = runtime.simulator
    assert sim is not None
    charges_by_intent: dict[str, list[Any]] = {}
    for charge in sim.charges():
        charges_by_intent.setdefault(charge.payment_id, []).append(charge)

    for pi_id in model.intents:
        r = api.get(f"/v1/payment_intents/{pi_id}")
        assert r.status_code == 200, r.text
        pi = r.json()
        status = pi["status"]
        assert status in STRIPE_STATUSES
        amount, received, capturable = pi["amount"], pi["amount_received"], pi["amount_capturable"]

        # Money on the intent.
        assert 0 <= received <= amount
        assert 0 <= capturable <= amount
        assert (capturable > 0) == (status == "requires_capture"), pi
        assert (received > 0) == (status == "succeeded"), pi
        if status == "requires_capture":
            assert capturable == amount
        if status == "requires_action":
            assert pi["next_action"]["type"] == "redirect_to_url"
            model.challenges[pi_id] = urlsplit(pi["next_action"]["redirect_to_url"]["url"]).path
        else:
            assert pi["next_action"] is None
        if status == "requires_payment_method" and pi["payment_method"] is not None:
            assert pi["last_payment_error"] is not None
        if status == "canceled":
            assert pi["canceled_at"] is not None

        # Refunds.
        refunds = api.get("/v1/refunds", params={"payment_intent": pi_id, "limit": "100"}).json()
        assert refunds["has_more"] is False
        statuses = {re["status"] for re in refunds["data"]}
        assert statuses <= {"succeeded"}, statuses  # the simulator answers synchronously
        refunded = sum(re["amount"] for re in refunds["data"])
        assert refunded <= received
        assert all(re["amount"] > 0 for re in refunds["data"])
        if refunds["data"]:
            assert status == "succeeded"
        with runtime.db.read() as session:
            row = repository.get_intent(session, merchant.id, pi_id)
            assert row is not None
            assert row.amount_refunded == refunded
            assert row.amount_refund_pending == 0
            assert row.pending_operation is None

        # The gateway agrees.
        charges = charges_by_intent.get(pi_id, [])
        assert sum(c.captured_amount for c in charges) == received, (pi, charges)
        assert sum(c.refunded_amount for c in charges) == refunded, (pi, charges)
        assert sum(1 for c in charges if c.captured_amount > 0) <= 1
        open_auths = [c for c in charges if c.status is ChargeStatus.AUTHORIZED]
        if status == "requires_capture":
            assert [c.amount for c in open_auths] == [capturable]
        else:
            assert open_auths == [], (pi, open_auths)
        open_challenges = [c for c in charges if c.status is ChargeStatus.REQUIRES_ACTION]
        assert len(open_challenges) == (1 if status == "requires_action" else 0), (pi, charges)
        for c in charges:
            assert c.refunded_amount <= c.captured_amount <= c.amount
            assert c.captured_amount + c.released_amount <= c.amount

    # Lifecycle events happen at most once per intent.
    for event_type in ("payment_intent.succeeded", "payment_intent.canceled"):
        listed = api.get("/v1/events", params={"type": event_type, "limit": "100"}).json()
        about = [e["data"]["object"]["id"] for e in listed["data"]]
        mine = [i for i in about if i in model.intents]
        assert len(mine) == len(set(mine)), event_type


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPERATIONS, min_size=1, max_size=12))
def test_random_operation_sequences_keep_invariants(
    api: TestClient, runtime: Runtime, merchant: Merchant, ops: list[Op]
) -> None:
    # The runtime is shared by the examples; each example works on its own intents.
    model = Model()
    for op in ops:
        response = _apply(api, model, op)
        _check_response(response, op)
        _check_invariants(api, runtime, merchant, model)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    amount=_amount,
    captures=st.one_of(st.none(), st.integers(min_value=1, max_value=5000)),
    refunds=st.lists(st.integers(min_value=1, max_value=2000), max_size=5),
)
def test_capture_then_refunds_never_exceed_what_was_received(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    amount: int,
    captures: int | None,
    refunds: list[int],
) -> None:
    model = Model()
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": str(amount),
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    assert r.status_code == 200, r.text
    pi_id = r.json()["id"]
    model.intents.append(pi_id)
    data = {} if captures is None else {"amount_to_capture": str(captures)}
    r = api.post(f"/v1/payment_intents/{pi_id}/capture", data=data)
    expected_received = amount if captures is None else captures
    if captures is not None and captures > amount:
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "amount_too_large"
        assert r.json()["error"]["param"] == "amount_to_capture"
        expected_received = 0
    else:
        assert r.status_code == 200, r.text
        assert r.json()["amount_received"] == expected_received
    _check_invariants(api, runtime, merchant, model)

    left = expected_received
    for value in refunds:
        r = api.post("/v1/refunds", data={"payment_intent": pi_id, "amount": str(value)})
        if expected_received == 0:
            assert r.status_code == 400
        elif left == 0:
            assert r.status_code == 400
            assert r.json()["error"]["code"] == "charge_already_refunded"
        elif value > left:
            assert r.status_code == 400
            assert r.json()["error"]["code"] == "amount_too_large"
        else:
            assert r.status_code == 200, r.text
            left -= value
        _check_invariants(api, runtime, merchant, model)
