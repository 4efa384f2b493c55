"""Property: for any sequence of requests over a few keys, each key's first executed response
is what every later use with the same parameters gets back; other parameters are refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongbox.api.app import create_app
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_runtime
from support import make_merchant

BODIES = [
    {"amount": "1000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"},
    {
        "amount": "1000",
        "currency": "usd",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": "true",
    },
    {"amount": "5", "currency": "usd"},  # fails validation: never stored
    {"amount": "700", "currency": "eur", "capture_method": "manual"},
]

requests = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, len(BODIES) - 1)),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seq=requests)
def test_idempotent_replay_model(
    shared: tuple[Runtime, TestClient], seq: list[tuple[str | None, int]]
) -> None:
    rt, client = shared
    m = make_merchant(rt)  # keys are scoped by merchant: a fresh one isolates each example
    first: dict[str, tuple[int, int, bytes]] = {}  # key -> (body index, status, content)
    expected_gateway_calls = 0
    for key, idx in seq:
        headers = {**m.headers, **({"Idempotency-Key": key} if key else {})}
        r = client.post("/v1/payment_intents", data=BODIES[idx], headers=headers)
        assert r.status_code < 500
        charges = BODIES[idx].get("confirm") == "true"
        if key is None:
            expected_gateway_calls += charges
            continue
        if key not in first:
            if r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error":
                continue  # validation failure: nothing stored, the key is still free
            first[key] = (idx, r.status_code, r.content)
            assert "Idempotent-Replayed" not in r.headers
            expected_gateway_calls += charges
            continue
        stored_idx, status, content = first[key]
        if idx == stored_idx:
            assert r.status_code == status
            assert r.content == content
            assert r.headers["Idempotent-Replayed"] == "true"
        elif BODIES[idx]["amount"] == "5":
            assert r.status_code == 400  # validation runs before the key is consulted
            assert r.json()["error"]["param"] == "amount"
        else:
            assert r.status_code == 400
            assert r.json()["error"]["type"] == "idempotency_error"
    assert rt.simulator is not None
    ops = [op for op in rt.simulator.operations() if op.merchant_id == m.id]
    assert len(ops) == expected_gateway_calls


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, TestClient]]:
    rt = build_runtime(
        Settings(data_dir=tmp_path_factory.mktemp("idem"), run_workers=False, public_url="http://t")
    )
    with TestClient(create_app(rt, run_workers=False)) as client:
        yield rt, client
    rt.close()
