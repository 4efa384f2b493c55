"""A runtime on a frozen clock, so that tests move time across settlement windows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.core.clock import FrozenClock
from strongbox.core.settings import Settings
from strongbox.events.relay import relay_once
from strongbox.ledger import reports
from strongbox.runtime import Runtime, build_runtime
from strongbox.settlement.models import SettlementBatch, SettlementEntry
from support import Merchant, make_merchant

# A window boundary plus one minute: the first window is [12:00, 12:05).
START = datetime(2026, 3, 2, 12, 1, tzinfo=UTC)
PAY = {"currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


@dataclass
class World:
    rt: Runtime
    clock: FrozenClock
    api: TestClient
    merchant: Merchant

    def pay(self, amount: int) -> str:
        r = self.api.post("/v1/payment_intents", data={**PAY, "amount": str(amount)})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "succeeded"
        return str(r.json()["id"])

    def refund(self, pi: str, amount: int) -> str:
        r = self.api.post("/v1/refunds", data={"payment_intent": pi, "amount": str(amount)})
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    def relay(self) -> int:
        total = 0
        while n := relay_once(self.rt.db, self.rt.bus, batch=500):
            total += n
        return total

    def balance(self) -> tuple[int, int]:
        with self.rt.db.read() as s:
            b = reports.balance(s, self.rt.ledger, self.merchant.id)
        usd = lambda rows: sum(x["amount"] for x in rows if x["currency"] == "usd")  # noqa: E731
        return usd(b["pending"]), usd(b["available"])

    def batches(self) -> list[SettlementBatch]:
        with self.rt.db.read() as s:
            return list(s.scalars(sa.select(SettlementBatch).order_by(SettlementBatch.seq)))

    def entries(self) -> list[SettlementEntry]:
        with self.rt.db.read() as s:
            return list(s.scalars(sa.select(SettlementEntry).order_by(SettlementEntry.seq)))


@contextmanager
def world(settings: Settings, **overrides: Any) -> Iterator[World]:
    clock = FrozenClock(START)
    rt = build_runtime(settings.model_copy(update=overrides), clock=clock)
    try:
        with TestClient(create_app(rt, run_workers=False), raise_server_exceptions=False) as c:
            m = make_merchant(rt)
            c.headers.update(m.headers)
            yield World(rt, clock, c, m)
    finally:
        rt.close()
