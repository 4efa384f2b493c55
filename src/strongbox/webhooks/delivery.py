"""The delivery worker: claims endpoints with due deliveries and POSTs signed events.

* An endpoint is held by one worker at a time (``claimed_until``, claimed with
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write gate serializes), and its due
  deliveries go out one after another in event order, so several worker processes never
  deliver the same event twice at once and order per endpoint holds where it can.
* Endpoints are served concurrently on one asyncio loop (``transport.HttpPool``: asyncio
  streams, h11, keep-alive connections per destination): a slow or dead endpoint only holds
  its own task, never the others.
* No network call inside a database transaction: claim (commit), deliver, record (commit).
  Claims and records run in a small pool of threads; each is a few statements per batch,
  and reads rows, not ORM objects, per delivery.
* A result is written on the delivery only in the generation the worker claimed it in, so
  a redelivery asked for while an attempt is in flight is never mistaken for done.
* SSRF: each batch resolves the host, refuses non-public addresses unless allowed, and
  connects to the checked address with the original name as Host header and TLS SNI.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from strongbox import __version__
from strongbox.core.sealing import Sealer
from strongbox.db.uow import Database
from strongbox.events.service import render_event
from strongbox.webhooks import repository as repo
from strongbox.webhooks import service, signing
from strongbox.webhooks.ssrf import (
    DestinationRefused,
    Resolver,
    Target,
    parse_url,
    resolve_target,
    system_resolver,
)
from strongbox.webhooks.transport import HttpPool, RequestFailed

log = logging.getLogger(__name__)

EXCERPT_BYTES = 1024
EXCERPT_CHARS = 1000
USER_AGENT = f"Strongbox-Webhooks/{__version__}"
DB_THREADS = 4  # claims and records at once (PostgreSQL; SQLite serializes its writes)


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    timeout_seconds: float = 15.0
    allow_private: bool = False
    concurrency: int = 64  # endpoints served at once
    batch_per_endpoint: int = 100
    poll_seconds: float = 1.0

    @property
    def lease(self) -> timedelta:
        # A batch stops starting new requests after lease/2, and one request lasts at most
        # the timeout (connect + read), so the claim outlives the batch.
        return timedelta(seconds=max(60.0, self.timeout_seconds * 4))


@dataclass(slots=True)
class Message:
    claimed: service.Claimed
    msg_id: str
    body: bytes


@dataclass(slots=True)
class Batch:
    endpoint_id: str
    url: str
    keys: signing.SigningKeys
    messages: list[Message] = field(default_factory=list)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Deliverer:
    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        config: DeliveryConfig,
        *,
        resolver: Resolver = system_resolver,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.sealer = sealer
        self.config = config
        self.resolver = resolver
        self.rng = rng or random.Random()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: HttpPool | None = None
        self._db_threads: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------ database phases (threads)

    def claim(self, limit: int, exclude: set[str]) -> list[Batch]:
        with self.db.unit_of_work() as uow:
            now = uow.clock.now()
            endpoints = repo.claim_endpoints(
                uow.session, now, now + self.config.lease, limit, exclude
            )
            # One statement for every claimed endpoint's due deliveries and their events.
            due = repo.due_deliveries(
                uow.session, [e.id for e in endpoints], now, self.config.batch_per_endpoint
            )
            batches: list[Batch] = []
            for e in endpoints:
                batch = Batch(e.id, e.url, service.signing_keys(e, self.sealer, now))
                for row in due[e.id]:
                    claimed = service.Claimed(
                        row.delivery_id,
                        row.merchant_id,
                        e.id,
                        row.id,
                        row.generation,
                        row.attempts,
                        row.manual,
                    )
                    batch.messages.append(Message(claimed, row.id, orjson.dumps(render_event(row))))
                batches.append(batch)
            uow.commit()
        return batches

    def record(self, endpoint_id: str, results: list[service.AttemptResult]) -> None:
        """Store a batch's results and release its endpoint, in one transaction."""
        with self.db.unit_of_work() as uow:
            service.record_results(uow, endpoint_id, results, self.rng)
            uow.commit()

    # ------------------------------------------------------------ HTTP (the event loop)

    async def send(
        self, http: HttpPool, batch: Batch, target: Target, msg: Message
    ) -> service.AttemptResult:
        """One POST to the checked address (Host header and SNI: the URL's name)."""
        ts = int(time.time())
        headers = [
            ("content-type", "application/json"),
            ("user-agent", USER_AGENT),
            *signing.headers(batch.keys, msg.msg_id, ts, msg.body).items(),
        ]
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        try:
            answer = await http.post(target, headers, msg.body)
            status = answer.status
            retry_after = retry_after_seconds(answer.retry_after, started)
            excerpt = answer.excerpt.decode("utf-8", "replace")[:EXCERPT_CHARS]
        except RequestFailed as exc:
            error = str(exc)
        return service.AttemptResult(
            claimed=msg.claimed,
            status_code=status,
            latency_ms=int((time.perf_counter() - t0) * 1000),
            error=error,
            excerpt=excerpt or None,
            retry_after=retry_after,
            started_at=started,
        )

    async def _target(self, url: str) -> Target:
        """The checked destination; a name is resolved off the event loop."""
        host = parse_url(url)[1]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return await asyncio.to_thread(
                resolve_target, url, self.config.allow_private, self.resolver
            )
        return resolve_target(url, self.config.allow_private, self.resolver)

    async def deliver(self, http: HttpPool, batch: Batch) -> list[service.AttemptResult]:
        """Resolve and check the host once, then deliver in order; stop at the first failure
        (the rest stay due, untouched) or when the claim's budget is spent."""
        if not batch.messages:
            return []
        try:
            target = await self._target(batch.url)
        except DestinationRefused as exc:
            return [
                service.AttemptResult(
                    claimed=batch.messages[0].claimed,
                    status_code=None,
                    latency_ms=0,
                    error=f"destination refused: {exc}",
                    started_at=datetime.now(UTC),
                )
            ]
        results: list[service.AttemptResult] = []
        budget = time.monotonic() + self.config.lease.total_seconds() / 2
        for msg in batch.messages:
            r = await self.send(http, batch, target, msg)
            results.append(r)
            if not r.succeeded or time.monotonic() > budget:
                break
        return results

    async def _in_db_thread(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_threads, functools.partial(fn, *args))

    async def deliver_batch(self, batch: Batch) -> int:
        assert self._http is not None, "deliver_batch runs inside run() or run_once()"
        results: list[service.AttemptResult] = []
        try:
            results = await self.deliver(self._http, batch)
        finally:
            # Recorded even if this task is cancelled: the endpoint is released either way.
            await asyncio.shield(self._in_db_thread(self.record, batch.endpoint_id, results))
        return sum(1 for r in results if r.succeeded)

    @contextmanager
    def _resources(self) -> Iterator[HttpPool]:
        t = self.config.timeout_seconds
        self._http = HttpPool(t, min(t, 10.0), excerpt_bytes=EXCERPT_BYTES)
        self._db_threads = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="webhook-db")
        try:
            yield self._http
        finally:
            self._db_threads.shutdown(wait=True)
            self._db_threads = None

    async def _close_http(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------ loops

    async def run_once(self) -> int:
        """Claim what is due now and deliver it all (tests, CLI); returns successes."""
        with self._resources():
            try:
                batches = await self._in_db_thread(self.claim, self.config.concurrency, set())
                done = await asyncio.gather(*(self.deliver_batch(b) for b in batches))
            finally:
                await self._close_http()
        return sum(done)

    def wake(self) -> None:
        loop, ev = self._loop, self._wake
        if loop is not None and ev is not None:
            loop.call_soon_threadsafe(ev.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, never waiting on one endpoint to serve another."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        inflight: dict[str, asyncio.Task[int]] = {}
        with self._resources() as http:
            try:
                await self._serve(stop, inflight, http)
            finally:
                if inflight:
                    await asyncio.wait(
                        set(inflight.values()), timeout=self.config.timeout_seconds * 2
                    )
                await self._close_http()

    async def _serve(
        self, stop: asyncio.Event, inflight: dict[str, asyncio.Task[int]], http: HttpPool
    ) -> None:
        assert self._wake is not None
        while not stop.is_set():
            free = self.config.concurrency - len(inflight)
            claimed: list[Batch] = []
            if free > 0:
                try:
                    claimed = await self._in_db_thread(self.claim, free, set(inflight))
                except Exception:
                    log.exception("claiming webhook deliveries failed")
            for b in claimed:
                task = asyncio.create_task(self.deliver_batch(b))
                inflight[b.endpoint_id] = task
                task.add_done_callback(functools.partial(self._done, inflight, b.endpoint_id))
            if claimed and len(inflight) < self.config.concurrency:
                await asyncio.sleep(0)
                continue
            http.sweep()
            self._wake.clear()
            waiters: set[asyncio.Future[object]] = {
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(stop.wait()),
            }
            try:
                await asyncio.wait(
                    waiters | set(inflight.values()),
                    timeout=self.config.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for w in waiters:
                    w.cancel()

    def _done(
        self, inflight: dict[str, asyncio.Task[int]], endpoint_id: str, t: asyncio.Task[int]
    ) -> None:
        inflight.pop(endpoint_id, None)
        if not t.cancelled() and t.exception() is not None:
            log.error("delivering to %s failed", endpoint_id, exc_info=t.exception())
        if self._wake is not None:
            self._wake.set()
