"""Chaos: settlement and payouts while the relay, the consumers and NATS die.

A NATS server of the test's own (``nats-server -js`` on a free port, its own store) carries
the bus; the relay, the settlement consumer and closer, and the payout loop run as separate
``strongbox worker --only …`` processes. While payments, refunds and manual payouts go
through the API, a worker process is killed (SIGKILL) at random and started again, and the
NATS server is stopped and started once. Afterwards:

* every captured cent (each capture, fee and refund transfer on the merchant's pending
  balance) is in exactly one entry of exactly one closed window, and each closed window is in
  exactly one batch;
* the batches sum to the ledger: what they settled is what the settlement transfers moved,
  and their nets are what the pending balance received, less any carried remainder;
* no payout pays twice: one resolution per payout hold, and the payouts account holds exactly
  what the paid payouts paid;
* ``strongbox ledger verify`` passes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.cli.ledger import run_verify
from strongbox.core.settings import Settings
from strongbox.events.models import OutboxEvent
from strongbox.ledger.models import (
    CODE_PAYOUT,
    CODE_SETTLEMENT,
    MERCHANT_PENDING,
    PAYOUTS,
    LedgerAccount,
    LedgerTransfer,
)
from strongbox.runtime import build_runtime
from strongbox.settlement.models import (
    WINDOW_CLOSED,
    Payout,
    SettlementBatch,
    SettlementCarry,
    SettlementEntry,
    SettlementWindow,
)
from support import free_port, make_merchant, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NATS_SERVER = shutil.which("nats-server")
GROUPS = ("relay", "settlement", "payouts")
WINDOW_SECONDS = 2


class NatsServer:
    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert NATS_SERVER is not None
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            import socket

            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
            except OSError:
                return False
            return True

        wait_until(up, "the test's NATS server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
            self.proc = None


class Worker:
    def __init__(self, group: str, env: dict[str, str], logs: Path) -> None:
        self.group = group
        self.env = env
        self.log = logs / f"worker-{group}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        exe = str(Path(sys.executable).with_name("strongbox"))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [exe, "worker", "--only", self.group], env=self.env, stdout=out, stderr=out
            )

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(60)
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    if NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


def test_settlement_survives_killed_workers_and_a_nats_restart(
    backend: str, settings: Settings, nats: NatsServer, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("worker processes share the database: PostgreSQL")
    rng = random.Random(19)
    overrides = {
        "bus_url": nats.url,
        "settlement_window_seconds": WINDOW_SECONDS,
    }
    rt = build_runtime(settings.model_copy(update=overrides))
    env = {
        **os.environ,
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": str(settings.database_url),
        "STRONGBOX_BUS_URL": nats.url,
        "STRONGBOX_SETTLEMENT_WINDOW_SECONDS": str(WINDOW_SECONDS),
        "STRONGBOX_LEDGER_FEE_BPS": "0",
        "STRONGBOX_LOG_LEVEL": "WARNING",
    }
    workers = {g: Worker(g, env, tmp_path) for g in GROUPS}
    for w in workers.values():
        w.start()
    merchant = make_merchant(rt)
    try:
        with TestClient(create_app(rt, run_workers=False)) as api:
            api.headers.update(merchant.headers)
            sched = api.post("/v1/payout_schedule", data={"interval": "daily", "delay_days": "0"})
            assert sched.status_code == 200, sched.text
            _traffic(api, rng, workers, nats)
        _settle_everything(rt)
        _check_invariants(rt, merchant.id)
    finally:
        for w in workers.values():
            w.stop()
        rt.close()
    assert sum(w.kills for w in workers.values()) >= 3


def _traffic(api: TestClient, rng: random.Random, workers: dict[str, Worker], nats: Any) -> None:
    intents: list[str] = []
    nats_restarted = False
    for i in range(60):
        r = api.post(
            "/v1/payment_intents",
            data={
                "amount": str(rng.randint(100, 5_000)),
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        )
        assert r.status_code == 200, r.text
        intents.append(r.json()["id"])
        if rng.random() < 0.25:
            pi = rng.choice(intents)
            api.post("/v1/refunds", data={"payment_intent": pi, "amount": "50"})
        if rng.random() < 0.1:
            # a manual payout: refused (400) when the available balance is short
            got = api.post("/v1/payouts", data={"amount": "200", "currency": "usd"})
            assert got.status_code in (200, 400), got.text
        if i % 8 == 4:
            victim = workers[rng.choice(GROUPS)]
            victim.kill()
            time.sleep(rng.uniform(0.1, 1.0))  # a crash's downtime, not a wait for a result
            victim.start()
        if i == 30 and not nats_restarted:
            nats.stop()
            nats.start()
            nats_restarted = True


def _count(rt: Any, stmt: Any) -> int:
    with rt.db.read() as s:
        return int(s.scalar(stmt) or 0)


def _settle_everything(rt: Any) -> None:
    """Everything published, applied and closed (bounds for a stuck worker, not a slow one)."""
    unpublished = (
        sa.select(sa.func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
    )
    wait_until(lambda: _count(rt, unpublished) == 0, "every event published", 240)
    pending_acct = sa.select(LedgerAccount.id).where(LedgerAccount.purpose == MERCHANT_PENDING)
    on_pending = (
        sa.select(sa.func.count())
        .select_from(LedgerTransfer)
        .where(
            LedgerTransfer.kind.in_(("posted", "post")),
            LedgerTransfer.code.in_(("charge", "fee", "refund")),
            sa.or_(
                LedgerTransfer.credit_account_id.in_(pending_acct),
                LedgerTransfer.debit_account_id.in_(pending_acct),
            ),
        )
    )
    entries = sa.select(sa.func.count()).select_from(SettlementEntry)
    wait_until(lambda: _count(rt, entries) == _count(rt, on_pending), "every entry", 240)
    open_windows = (
        sa.select(sa.func.count())
        .select_from(SettlementWindow)
        .where(SettlementWindow.status != WINDOW_CLOSED)
    )
    wait_until(lambda: _count(rt, open_windows) == 0, "every window closed", 120)
    paid_automatic = (
        sa.select(sa.func.count())
        .select_from(Payout)
        .where(Payout.status == "paid", Payout.automatic.is_(True))
    )
    wait_until(lambda: _count(rt, paid_automatic) >= 1, "today's automatic payout paid", 120)


def _check_invariants(rt: Any, merchant_id: str) -> None:
    with rt.db.read() as s:
        pending = s.scalar(
            sa.select(LedgerAccount.id).where(
                LedgerAccount.merchant_id == merchant_id, LedgerAccount.purpose == MERCHANT_PENDING
            )
        )
        payouts_acct = s.scalar(
            sa.select(LedgerAccount.id).where(
                LedgerAccount.merchant_id == merchant_id, LedgerAccount.purpose == PAYOUTS
            )
        )
        moves = s.execute(
            sa.select(
                LedgerTransfer.id, LedgerTransfer.amount, LedgerTransfer.credit_account_id
            ).where(
                LedgerTransfer.merchant_id == merchant_id,
                LedgerTransfer.kind.in_(("posted", "post")),
                LedgerTransfer.code.in_(("charge", "fee", "refund")),
                sa.or_(
                    LedgerTransfer.credit_account_id == pending,
                    LedgerTransfer.debit_account_id == pending,
                ),
            )
        ).all()
        signed = {t: (a if credit == pending else -a) for t, a, credit in moves}
        entries = s.execute(
            sa.select(
                SettlementEntry.transfer_id, SettlementEntry.amount, SettlementEntry.window_id
            )
        ).all()
        windows = {w.id: w for w in s.scalars(sa.select(SettlementWindow))}
        batches = list(s.scalars(sa.select(SettlementBatch)))
        carry = s.scalar(sa.select(SettlementCarry.amount)) or 0
        settle_sum = s.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerTransfer.amount), 0)).where(
                LedgerTransfer.code == CODE_SETTLEMENT
            )
        )
        payout_rows = list(s.scalars(sa.select(Payout)))
        resolutions = Counter(
            s.scalars(
                sa.select(LedgerTransfer.pending_id).where(
                    LedgerTransfer.code == CODE_PAYOUT, LedgerTransfer.pending_id.is_not(None)
                )
            )
        )
        paid_in = s.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerTransfer.amount), 0)).where(
                LedgerTransfer.code == CODE_PAYOUT,
                LedgerTransfer.kind == "post",
                LedgerTransfer.credit_account_id == payouts_acct,
            )
        )
    # every captured cent in exactly one entry, of a closed window, in exactly one batch
    by_transfer = Counter(t for t, _a, _w in entries)
    assert set(by_transfer) == set(signed)
    assert all(n == 1 for n in by_transfer.values())
    assert all(a == signed[t] for t, a, _w in entries)
    assert all(windows[w].status == WINDOW_CLOSED for _t, _a, w in entries)
    batch_windows = Counter(b.window_id for b in batches)
    assert set(batch_windows) == set(windows)
    assert all(n == 1 for n in batch_windows.values())
    # batches sum to the ledger
    assert sum(b.net for b in batches) == sum(signed.values())
    assert sum(b.settled for b in batches) == settle_sum
    assert sum(b.net for b in batches) == settle_sum + carry
    # no payout pays twice
    assert all(n == 1 for n in resolutions.values())
    paid = [p for p in payout_rows if p.status == "paid"]
    assert paid_in == sum(p.amount for p in paid)
    assert any(p.automatic for p in paid), [(p.id, p.automatic, p.status) for p in payout_rows]
    report = run_verify(rt)
    assert report.ok, report.problems
