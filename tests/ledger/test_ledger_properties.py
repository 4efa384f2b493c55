"""Random sequences of payments, partial captures, refunds and voids keep every invariant.

Each example is a fresh merchant driving the real API (with the simulator) through random
operations. Afterwards ``ledger verify`` finds nothing wrong, and the balances equal what the
payments say: receivable = captured, merchant pending = captured - fees - refunds, holds =
what is still authorized.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.helpers import balance, system_account
from strongbox.cli.ledger import run_verify
from strongbox.ledger.fees import compute_fee
from strongbox.ledger.models import FEES, GATEWAY_RECEIVABLE, MERCHANT_PENDING, REFUNDS
from strongbox.runtime import Runtime
from support import Merchant

BPS, FIXED = 250, 20
METHODS = ["pm_card_visa", "pm_card_visa", "pm_card_chargeDeclined"]
_target = st.integers(min_value=0, max_value=5)
OPERATIONS = st.one_of(
    st.tuples(st.just("pay"), st.booleans(), st.integers(50, 5000), st.sampled_from(METHODS)),
    st.tuples(st.just("capture"), _target, st.one_of(st.none(), st.integers(1, 5000))),
    st.tuples(st.just("cancel"), _target),
    st.tuples(st.just("refund"), _target, st.one_of(st.none(), st.integers(1, 3000))),
)


def _apply(client: TestClient, h: dict[str, str], intents: list[str], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "pay":
        _, manual, amount, method = op
        r = client.post(
            "/v1/payment_intents",
            headers=h,
            data={
                "amount": amount,
                "currency": "usd",
                "payment_method": method,
                "confirm": "true",
                "capture_method": "manual" if manual else "automatic",
            },
        )
        assert r.status_code in (200, 402), r.text
        intents.append(
            r.json()["id"] if r.status_code == 200 else r.json()["error"]["payment_intent"]["id"]
        )
        return
    if not intents:
        return
    pi = intents[op[1] % len(intents)]
    if kind == "capture":
        data = {} if op[2] is None else {"amount_to_capture": op[2]}
        r = client.post(f"/v1/payment_intents/{pi}/capture", headers=h, data=data)
    elif kind == "cancel":
        r = client.post(f"/v1/payment_intents/{pi}/cancel", headers=h)
    else:
        data = {"payment_intent": pi} | ({} if op[2] is None else {"amount": op[2]})
        r = client.post("/v1/refunds", headers=h, data=data)
    assert r.status_code in (200, 400), r.text  # 400: not allowed in this state / too large


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPERATIONS, min_size=1, max_size=10))
def test_random_money_movements_keep_the_ledger_right(
    client: TestClient, runtime: Runtime, new_merchant: Any, ops: list[tuple[Any, ...]]
) -> None:
    merchant: Merchant = new_merchant("Property merchant")
    h = merchant.headers
    r = client.post("/v1/ledger/fees", headers=h, data={"percent_bps": BPS, "fixed_amount": FIXED})
    assert r.status_code == 200
    intents: list[str] = []
    for op in ops:
        _apply(client, h, intents, op)

    report = run_verify(runtime)
    assert report.ok, [str(p) for p in report.problems]

    received = fees = held = refunded = 0
    for pi_id in intents:
        pi = client.get(f"/v1/payment_intents/{pi_id}", headers=h).json()
        received += pi["amount_received"]
        if pi["amount_received"]:
            fees += compute_fee(pi["amount_received"], BPS, FIXED)
        if pi["status"] == "requires_capture":
            held += pi["amount_capturable"]
        refunds = client.get(
            "/v1/refunds", headers=h, params={"payment_intent": pi_id, "limit": 100}
        )
        refunded += sum(x["amount"] for x in refunds.json()["data"] if x["status"] != "failed")

    def bal(purpose: str) -> tuple[int, int, int, int]:
        info = system_account(runtime, merchant.id, purpose)
        return balance(runtime, merchant.id, info.id).as_tuple()

    assert bal(GATEWAY_RECEIVABLE) == (held, received, 0, 0)
    assert bal(FEES) == (0, 0, 0, fees)
    assert bal(REFUNDS) == (0, 0, 0, refunded)
    assert bal(MERCHANT_PENDING) == (0, fees + refunded, held, received)
    pending = client.get("/v1/balance", headers=h).json()["pending"]
    assert sum(p["amount"] for p in pending) == received - fees - refunded
    txns = client.get("/v1/balance_transactions", headers=h, params={"limit": 100}).json()["data"]
    assert sum(t["net"] for t in txns) == received - fees - refunded
