"""Property: whatever faults both gateways throw, a payment is charged at most once, and
Strongbox's final state agrees with the gateways' own records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from routing_helpers import add_account, confirm, set_routing

from strongbox.connectors.base import OperationKind
from strongbox.routing.health import BreakerSettings
from strongbox.runtime import Runtime
from strongbox.workers.recovery import recover_once

faults = st.lists(st.sampled_from(["error_5xx", "timeout", "drop_response"]), max_size=4)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(on_a=faults, on_b=faults, weights=st.sampled_from([None, (1, 1), (0, 1)]))
def test_at_most_one_charge_across_connectors(
    api: TestClient,
    runtime: Runtime,
    gateways: Any,
    on_a: list[str],
    on_b: list[str],
    weights: tuple[int, int] | None,
) -> None:
    runtime.health.settings = BreakerSettings(fail_max=2, reset_seconds=0.05, min_calls=1000)
    a = add_account(api, "sim_a")["id"]
    b = add_account(api, "sim_b")["id"]
    target: dict[str, Any] = {"connectors": [a, b]}
    if weights is not None:
        target["weights"] = {a: weights[0], b: weights[1]}
    set_routing(api, {"default": target})
    for engine, kinds in ((gateways.a, on_a), (gateways.b, on_b)):
        engine.clear_faults()
        for kind in kinds:
            engine.inject(kind, operations={OperationKind.AUTHORIZE})

    r = confirm(api)
    assert r.status_code in (200, 402, 502), r.text
    body = r.json()
    pi_id = body.get("id") or body["error"]["payment_intent"]["id"]
    for _ in range(5):
        recover_once(runtime, min_age=timedelta(0))
    pi = api.get(f"/v1/payment_intents/{pi_id}").json()
    assert pi["status"] in ("succeeded", "requires_payment_method")  # final after recovery

    charges = [
        (name, c.captured_amount)
        for name, engine in (("sim_a", gateways.a), ("sim_b", gateways.b))
        for c in engine.charges()
        if c.payment_id == pi_id and c.captured_amount
    ]
    assert len(charges) <= 1
    if pi["status"] == "succeeded":
        history = api.get(f"/v1/payment_intents/{pi_id}/history").json()["attempts"]
        winner = [x for x in history if x["status"] == "succeeded"]
        assert len(winner) == 1
        assert charges == [(winner[0]["connector"], 2000)]
    else:
        assert charges == []
