"""Webhook delivery throughput from one worker process, and isolation from bad endpoints.

    .venv/bin/python benchmarks/webhooks_delivery.py [--events 4000] [--endpoints 50]
        [--database-url postgresql://...]

A receiver runs in its own process (``webhooks_receiver.py``: uvicorn, 200 at once). This
process builds a runtime (SQLite in a temporary directory unless ``--database-url`` points at
a scratch PostgreSQL database), creates endpoints on the receiver, raises ``--events`` events
spread over them, fans them out, then runs one ``Deliverer`` (the worker's asyncio loop:
claims, Standard Webhooks signing, POSTs, attempt records) until all are delivered; the
clock stops on the last recorded success (counted as the worker records it).

Printed, each measured in this run:

1. baselines: the same number of bare POSTs with the same concurrency (no database, no
   signing, no SSRF check) through the worker's own client (``transport.HttpPool``: asyncio,
   httptools, keep-alive) — the ceiling of this client on this machine — and through the client
   the worker used before (a pool of threads with keep-alive ``httpx.Client``s);
2. deliveries/s through the worker, and its ratio to the baseline;
3. isolation: the same delivery run again with one slow (2 s per request) and one dead
   (connection refused) endpoint added; the healthy endpoints' completion time is compared
   with run 2 (a ratio near 1 means they were not delayed).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from strongbox.auth import service as auth
from strongbox.core.ids import new_id
from strongbox.core.settings import Settings
from strongbox.events.types import DomainEvent, RequestContext
from strongbox.runtime import Runtime, build_runtime
from strongbox.webhooks import service
from strongbox.webhooks.delivery import Deliverer, DeliveryConfig
from strongbox.webhooks.models import WebhookDelivery
from strongbox.webhooks.schemas import CreateEndpointParams

HERE = Path(__file__).parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_receiver(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(HERE / "webhooks_receiver.py"), str(port)])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/ping", content=b"x", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("receiver did not start")


def make_endpoints(rt: Runtime, merchant_id: str, urls: list[str]) -> list[str]:
    ids = []
    with rt.db.unit_of_work() as uow:
        ctx = RequestContext(merchant_id=merchant_id, actor="bench")
        for url in urls:
            p = CreateEndpointParams(url=url, enabled_events=["customer.created"])
            e, _secret = service.create_endpoint(uow, ctx, rt.sealer, p)
            ids.append(e.id)
        uow.commit()
    return ids


def raise_events(rt: Runtime, merchant_id: str, n: int) -> None:
    ctx = RequestContext(merchant_id=merchant_id, actor="bench")
    done = 0
    while done < n:
        with rt.db.unit_of_work() as uow:
            for _ in range(min(500, n - done)):
                cid = new_id("customer")
                uow.raise_event(
                    DomainEvent(
                        id=new_id("event"),
                        type="customer.created",
                        merchant_id=merchant_id,
                        resource_type="customer",
                        resource_id=cid,
                        object={"id": cid, "object": "customer", "email": "a@example.com"},
                        created=uow.clock.now(),
                        context=ctx,
                    )
                )
                done += 1
            uow.commit()


def fanout_all(rt: Runtime) -> None:
    while True:
        with rt.db.unit_of_work() as uow:
            n = service.fanout_once(uow, batch=1000)
            uow.commit()
        if n == 0:
            return


def succeeded(rt: Runtime, endpoint_ids: list[str]) -> int:
    with rt.db.read() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(
                    WebhookDelivery.status == "succeeded",
                    WebhookDelivery.endpoint_id.in_(endpoint_ids),
                )
            )
            or 0
        )


class CountingDeliverer(Deliverer):
    """The worker as is, counting the successes it records for ``endpoint_ids``, so the
    clock stops on the last record without polling the database from this process."""

    def __init__(self, *args: Any, endpoint_ids: list[str], target: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.watch = set(endpoint_ids)
        self.target = target
        self.done = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()

    def record(self, endpoint_id: str, results: list[service.AttemptResult]) -> None:
        super().record(endpoint_id, results)
        if endpoint_id in self.watch:
            with self.lock:
                self.done += sum(1 for r in results if r.succeeded)
                if self.done >= self.target:
                    self.finished.set()


async def deliver_until(d: CountingDeliverer, rt: Runtime, endpoint_ids: list[str]) -> float:
    stop = asyncio.Event()
    start = time.perf_counter()
    task = asyncio.create_task(d.run(stop))
    if not await asyncio.to_thread(d.finished.wait, 120):
        raise RuntimeError("deliveries did not finish in 120 s")
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    # What the clock measured is what the database says.
    assert succeeded(rt, endpoint_ids) == d.target, "recorded successes differ from the rows"
    return elapsed


BODY = b'{"id":"evt_x","object":"event","type":"customer.created","data":{}}' * 3


def baseline(url: str, n: int, concurrency: int) -> float:
    """Bare POSTs through the worker's client, ``concurrency`` endpoints at once, each
    sending its share one after another: no database, signing or SSRF check."""
    from strongbox.webhooks.ssrf import resolve_target, system_resolver
    from strongbox.webhooks.transport import HttpPool

    async def run() -> float:
        pool = HttpPool(15.0, 10.0)
        targets = [
            resolve_target(f"{url}/base{k}", True, system_resolver) for k in range(concurrency)
        ]
        headers = [("content-type", "application/json")]

        async def endpoint(k: int, count: int) -> None:
            for _ in range(count):
                answer = await pool.post(targets[k], headers, BODY)
                assert answer.status == 200

        await asyncio.gather(*(endpoint(k, 1) for k in range(concurrency)))  # connect first
        start = time.perf_counter()
        share = [n // concurrency + (1 if k < n % concurrency else 0) for k in range(concurrency)]
        await asyncio.gather(*(endpoint(k, share[k]) for k in range(concurrency)))
        elapsed = time.perf_counter() - start
        await pool.aclose()
        return elapsed

    return asyncio.run(run())


def baseline_threads(url: str, n: int, concurrency: int) -> float:
    """Bare POSTs the way the worker sent them before (a pool of threads with keep-alive
    httpx clients), without database, signing or SSRF checks."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    body = BODY
    local = threading.local()

    def one(i: int) -> None:
        client = getattr(local, "c", None)
        if client is None:
            client = local.c = httpx.Client(trust_env=False)
        client.post(f"{url}/base{i % concurrency}", content=body).raise_for_status()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency)))  # connect first
        start = time.perf_counter()
        list(pool.map(one, range(n)))
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--endpoints", type=int, default=50)
    ap.add_argument("--database-url")
    ap.add_argument("--concurrency", type=int, default=16, help="endpoints served at once")
    args = ap.parse_args()
    port = free_port()
    receiver = start_receiver(port)
    url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="sb-wh-bench-"))
    try:
        rt = build_runtime(
            Settings(
                data_dir=tmp,
                database_url=args.database_url,
                run_workers=False,
                webhooks_allow_private=True,
            )
        )
        with rt.db.unit_of_work() as uow:
            m1 = auth.create_merchant(uow, "bench healthy").merchant.id
            m2 = auth.create_merchant(uow, "bench isolation").merchant.id
            uow.commit()
        conc = min(args.concurrency, args.endpoints)
        config = DeliveryConfig(
            timeout_seconds=15.0,
            allow_private=True,
            concurrency=conc,
            batch_per_endpoint=200,
            poll_seconds=0.05,
        )
        per_endpoint = max(1, args.events // args.endpoints)
        n = per_endpoint * args.endpoints

        threads_s = baseline_threads(url, n, conc)
        print(
            f"baseline (previous client): {n} bare POSTs from {conc} threads with httpx "
            f"clients: {threads_s:.2f} s = {n / threads_s:,.0f}/s"
        )
        base_s = baseline(url, n, conc)
        print(
            f"baseline (worker's client): {n} bare POSTs, {conc} endpoints at once: "
            f"{base_s:.2f} s = {n / base_s:,.0f}/s"
        )

        healthy = make_endpoints(rt, m1, [f"{url}/ok{i}" for i in range(args.endpoints)])
        t0 = time.perf_counter()
        raise_events(rt, m1, per_endpoint)
        fanout_all(rt)
        prep = time.perf_counter() - t0
        d = CountingDeliverer(rt.db, rt.sealer, config, endpoint_ids=healthy, target=n)
        run_s = asyncio.run(deliver_until(d, rt, healthy))
        rate = n / run_s
        print(
            f"worker: {n} deliveries to {args.endpoints} endpoints in {run_s:.2f} s = "
            f"{rate:,.0f}/s ({rate / (n / base_s):.0%} of baseline); events+fan-out "
            f"{prep:.2f} s"
        )

        iso = make_endpoints(rt, m2, [f"{url}/iso{i}" for i in range(args.endpoints)])
        make_endpoints(rt, m2, [f"{url}/slow", f"http://127.0.0.1:{free_port()}/dead"])
        raise_events(rt, m2, per_endpoint)
        fanout_all(rt)
        d2 = CountingDeliverer(rt.db, rt.sealer, config, endpoint_ids=iso, target=n)
        iso_s = asyncio.run(deliver_until(d2, rt, iso))
        print(
            f"isolation: same {n} deliveries with a slow (2 s) and a dead endpoint added: "
            f"{iso_s:.2f} s = {n / iso_s:,.0f}/s; healthy completion time x{iso_s / run_s:.2f}"
            " of the run without them"
        )
        target = "reached" if rate >= 1000 else "NOT reached"
        print(f"target >= 1,000 deliveries/s from one worker process: {target} ({rate:,.0f}/s)")
        rt.close()
    finally:
        receiver.terminate()
        receiver.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
