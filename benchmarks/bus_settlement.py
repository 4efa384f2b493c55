"""Bus and settlement throughput (issue 19): relay to JetStream, the settlement consumer, and
how soon a window's batch follows the window's end.

    STRONGBOX_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/strongbox_bench \\
    .venv/bin/python benchmarks/bus_settlement.py --nats nats://127.0.0.1:4222 --events 20000

1. **relay**: ``--events`` committed events in the outbox, published by ``relay_once`` (batches
   of ``--batch``) to a fresh JetStream stream; events/s from the first claim to the last mark.
2. **consumer**: as many captures posted to the ledger (the posting rules' transfers, written
   directly, 1,000 per transaction) and their ``payment_intent.succeeded`` events on the
   stream; the settlement consumer group drains them (``ConsumerRunner``, batches of
   ``--batch``); events/s from the first fetch to the last commit.
3. **window latency**: meanwhile the closer runs as the workers run it (every 0.25 s) with
   ``--window`` second windows; for every batch, ``closed_at - window_end``.

The database is migrated and used as is (use a fresh one); the stream is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import threading
import time
from datetime import timedelta

import nats
import sqlalchemy as sa

from strongbox.core.settings import Settings
from strongbox.events.consumer import ConsumerRunner
from strongbox.events.jetstream import JetStreamBus
from strongbox.events.relay import relay_once
from strongbox.events.repository import add_to_outbox
from strongbox.ledger.handlers import capture_id
from strongbox.ledger.models import GATEWAY_RECEIVABLE, MERCHANT_PENDING
from strongbox.ledger.service import TransferRequest
from strongbox.runtime import build_runtime
from strongbox.settlement.models import SettlementBatch, SettlementEntry
from strongbox.workers.settlement import close_once


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--window", type=int, default=2)
    args = ap.parse_args()
    stream = f"BENCH{secrets.token_hex(4).upper()}"
    settings = Settings(bus_url=args.nats, bus_stream=stream, settlement_window_seconds=args.window)
    rt = build_runtime(settings)
    bus = rt.bus
    assert isinstance(bus, JetStreamBus)
    try:
        merchant = "acct_bench" + secrets.token_hex(4)
        pis = [f"pi_bench{secrets.token_hex(8)}" for _ in range(args.events)]
        print(f"database: {rt.db.engine.url.get_backend_name()}, events: {args.events}")
        # --- 1. relay
        with rt.db.unit_of_work() as uow:
            now = uow.clock.now()
            for pi in pis:
                add_to_outbox(
                    uow,
                    {
                        "id": "evt_" + secrets.token_hex(12),
                        "merchant_id": merchant,
                        "type": "payment_intent.succeeded",
                        "resource_type": "payment_intent",
                        "resource_id": pi,
                        "data": {"object": {"id": pi, "object": "payment_intent"}},
                        "request_id": None,
                        "idempotency_key": None,
                        "created": now,
                    },
                )
            uow.commit()
        # --- the captures those events announce, in the ledger (as the posting rules post them)
        for i in range(0, len(pis), 1000):
            with rt.db.unit_of_work() as uow:
                recv = rt.ledger.system_account(uow, merchant, GATEWAY_RECEIVABLE, "usd")
                pend = rt.ledger.system_account(uow, merchant, MERCHANT_PENDING, "usd")
                reqs = [
                    TransferRequest(
                        id=capture_id(pi),
                        debit_account_id=recv.id,
                        credit_account_id=pend.id,
                        amount=1_000,
                        currency="usd",
                        code="charge",
                        source=pi,
                    )
                    for pi in pis[i : i + 1000]
                ]
                res = rt.ledger.create_transfers(
                    uow, merchant, reqs, allow_reserved=True, accounts=[recv, pend]
                )
                assert all(r.error is None for r in res)
                uow.commit()
        t0 = time.perf_counter()
        published = 0
        while n := relay_once(rt.db, bus, batch=args.batch):
            published += n
        relay_s = time.perf_counter() - t0
        print(
            f"relay -> JetStream: {published} events in {relay_s:.2f} s = "
            f"{published / relay_s:,.0f} events/s"
        )
        # --- 2. consumer, with 3. the closer running
        consumer = rt.settlement.consumer() if rt.settlement else None
        assert consumer is not None
        runner = ConsumerRunner(
            rt.db,
            lambda: bus.subscribe_group(consumer.name, consumer.types),
            consumer,
            batch=args.batch,
            wait=0.5,
        )
        stop = threading.Event()

        def closer() -> None:
            while not stop.wait(0.25):
                close_once(rt)

        th = threading.Thread(target=closer, daemon=True)
        th.start()
        t0 = time.perf_counter()
        seen = 0
        while seen < args.events:
            seen += runner.run_once()
        consume_s = time.perf_counter() - t0
        with rt.db.read() as s:
            entries = s.scalar(
                sa.select(sa.func.count())
                .select_from(SettlementEntry)
                .where(SettlementEntry.merchant_id == merchant)
            )
        print(
            f"settlement consumer: {entries} entries from {seen} events in {consume_s:.2f} s"
            f" = {seen / consume_s:,.0f} events/s"
        )
        deadline = time.monotonic() + 3 * args.window + 30
        while time.monotonic() < deadline:
            with rt.db.read() as s:
                open_ = s.scalar(
                    sa.text("SELECT count(*) FROM settlement_windows WHERE status = 'open'")
                )
            if not open_:
                break
            time.sleep(0.1)
        stop.set()
        th.join()
        with rt.db.read() as s:
            lat = [
                (b.closed_at - b.window_end) / timedelta(milliseconds=1)
                for b in s.scalars(
                    sa.select(SettlementBatch).where(SettlementBatch.merchant_id == merchant)
                )
            ]
        if lat:
            print(
                f"batch after window end: {len(lat)} batches, median {statistics.median(lat):.0f}"
                f" ms, max {max(lat):.0f} ms"
            )
        runner.close()
    finally:
        rt.close()

        async def drop() -> None:
            nc = await nats.connect(args.nats)
            await nc.jetstream().delete_stream(stream)
            await nc.close()

        asyncio.run(drop())


if __name__ == "__main__":
    main()
