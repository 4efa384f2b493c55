"""Fixtures for the security tests: a dump of every table, and a set of merchant A's objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.db.metadata import target_metadata
from strongbox.runtime import Runtime

Dump = dict[str, list[tuple[Any, ...]]]


def dump_database(runtime: Runtime) -> Dump:
    """Every row of every table (all columns, in a stable order), for before/after checks."""
    out: Dump = {}
    with runtime.db.engine.connect() as conn:
        for table in target_metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return out


@pytest.fixture
def snapshot(runtime: Runtime) -> Callable[[], Dump]:
    return lambda: dump_database(runtime)


def a_objects(api: TestClient) -> dict[str, str]:
    """Merchant A's objects: paid, held and open intents, a refund, a customer, a pm, an event."""
    cus = api.post("/v1/customers", data={"email": "a@example.com", "name": "A"}).json()
    pm = api.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": cus["id"]}).json()
    paid = api.post(
        "/v1/payment_intents",
        data={"amount": "5000", "currency": "usd", "payment_method": pm["id"], "confirm": "true",
              "customer": cus["id"]},
    ).json()  # fmt: skip
    assert paid["status"] == "succeeded", paid
    held = api.post(
        "/v1/payment_intents",
        data={"amount": "3000", "currency": "usd", "capture_method": "manual",
              "payment_method": "pm_card_visa", "confirm": "true"},
    ).json()  # fmt: skip
    assert held["status"] == "requires_capture", held
    refund = api.post("/v1/refunds", data={"payment_intent": paid["id"], "amount": "100"}).json()
    assert refund["object"] == "refund", refund
    event = api.get("/v1/events", params={"limit": "1"}).json()["data"][0]
    return {
        "customer": cus["id"],
        "payment_method": pm["id"],
        "paid": paid["id"],
        "held": held["id"],
        "refund": refund["id"],
        "event": event["id"],
    }


@pytest.fixture
def objects(api: TestClient) -> dict[str, str]:
    return a_objects(api)
