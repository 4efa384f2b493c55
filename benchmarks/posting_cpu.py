"""CPU of the ledger's posting rule for one captured payment (``payment_intent.succeeded``:
transfer lookup, capture and fee transfers, balance slot updates), in-process, one at a time.

    .venv/bin/python benchmarks/posting_cpu.py --database-url postgresql://.../scratch [-n 1000]

Point it at a scratch database (it is migrated and written to). Builds a runtime without
background workers, creates a merchant, then runs the registered ledger subscriber on ``n``
synthetic events, each in its own unit of work, and prints this process's CPU milliseconds
per posting (``time.process_time`` around the subscriber only, the commit left out).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from strongbox.auth import service as auth
from strongbox.core.ids import new_id
from strongbox.core.settings import Settings
from strongbox.events.types import DomainEvent, RequestContext
from strongbox.runtime import build_runtime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("-n", type=int, default=1000)
    args = ap.parse_args()
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="strongbox-posting-")),
        database_url=args.database_url,
        run_workers=False,
    )
    rt = build_runtime(settings)
    with rt.db.unit_of_work() as uow:
        merchant_id = auth.create_merchant(uow, "posting").merchant.id
        uow.commit()
    (rule,) = [
        h
        for pattern, name, h, *_ in rt.dispatcher._handlers
        if name == "ledger" and pattern == "payment_intent.succeeded"
    ]
    ctx = RequestContext(merchant_id=merchant_id, actor="bench")

    def one() -> float:
        pi_id = new_id("payment_intent")
        obj = {"id": pi_id, "amount_received": 2000, "currency": "usd", "status": "succeeded"}
        event = DomainEvent(
            id=new_id("event"),
            type="payment_intent.succeeded",
            merchant_id=merchant_id,
            resource_type="payment_intent",
            resource_id=pi_id,
            object=obj,
            created=rt.db.clock.now(),
            context=ctx,
        )
        with rt.db.unit_of_work() as uow:
            uow.session.connection()  # the transaction is open before the clock starts
            t0 = time.process_time()
            rule(uow, event)
            spent = time.process_time() - t0
            uow.commit()
        return spent

    for _ in range(50):  # warm the statement caches and the system accounts
        one()
    total = sum(one() for _ in range(args.n))
    print(f"{rt.db.engine.dialect.name}: {1000 * total / args.n:.2f} ms CPU per posting")
    rt.close()


if __name__ == "__main__":
    main()
