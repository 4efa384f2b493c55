"""JSON columns: written and read with orjson, with the standard library as the fallback."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import sqlalchemy as sa

from strongbox.db.engine import json_dumps, json_loads
from strongbox.events.models import OutboxEvent
from strongbox.runtime import Runtime


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "nested": {"list": [1, "two", None, True, 2.5]}, "é": "ünïcode"},
        {"big": 2**70, "neg": -(2**80)},  # beyond 64 bits: orjson refuses, json writes it
        [],
        "text",
    ],
)
def test_values_survive_a_round_trip(value: Any) -> None:
    assert json_loads(json_dumps(value)) == value
    assert json_loads(json_dumps(value).encode()) == value
    assert json_loads(memoryview(json_dumps(value).encode())) == value


def test_what_orjson_refuses_to_read_falls_back_to_the_standard_library() -> None:
    assert json_loads('{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }
    assert math.isnan(json_loads(b'{"x": NaN}')["x"])
    assert json_loads(memoryview(b'"\\ud800"')) == "\ud800"  # a lone surrogate


def test_non_string_keys_are_written_as_the_standard_library_writes_them() -> None:
    value = {1: "a", None: "b", False: "c"}
    assert json_loads(json_dumps(value)) == json.loads(json.dumps(value))


def test_a_json_column_round_trips_through_the_database(runtime: Runtime) -> None:
    data = {"object": {"id": "pi_1", "amount": 2000, "metadata": {"k": "v"}, "big": 2**70}}
    now = runtime.db.clock.now()
    with runtime.db.unit_of_work() as uow:
        uow.session.add(
            OutboxEvent(
                id="evt_json_1",
                merchant_id="m_1",
                type="payment_intent.created",
                resource_type="payment_intent",
                resource_id="pi_1",
                data=data,
                request_id=None,
                idempotency_key=None,
                created=now,
                published_at=None,
                claimed_until=None,
            )
        )
        uow.commit()
    with runtime.db.read() as s:
        stored = s.scalar(sa.select(OutboxEvent.data).where(OutboxEvent.id == "evt_json_1"))
    assert stored == data
