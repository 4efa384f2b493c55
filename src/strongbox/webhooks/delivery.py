"""The delivery worker: claims endpoints with due deliveries and POSTs signed events.

* An endpoint is held by one worker at a time (``claimed_until``, claimed with
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write gate serializes), and its due
  deliveries go out one after another in event order, so several worker processes never
  deliver the same event twice at once and order per endpoint holds where it can.
* Endpoints are served concurrently (asyncio + httpx): a slow or dead endpoint only holds its
  own task, never the others.
* No network call inside a database transaction: claim (commit), deliver, record (commit).
* SSRF: each batch resolves the host, refuses non-public addresses unless allowed, and
  connects to the checked address with the original name as Host header and TLS SNI.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

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
    resolve_target,
    system_resolver,
)

log = logging.getLogger(__name__)

EXCERPT_BYTES = 1024
EXCERPT_CHARS = 1000
USER_AGENT = f"Strongbox-Webhooks/{__version__}"


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
    delivery_id: str
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
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.sealer = sealer
        self.config = config
        self.resolver = resolver
        self.transport = transport
        self.rng = rng or random.Random()
        # HTTP runs in a bounded pool of threads, one keep-alive client each: a slow or dead
        # endpoint holds one thread, never the event loop or the other endpoints.
        self._pool = ThreadPoolExecutor(
            max_workers=config.concurrency, thread_name_prefix="webhook-http"
        )
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
                for d, ev in due[e.id]:
                    body = _dumps(render_event(ev))
                    batch.messages.append(Message(d.id, ev.id, body))
                batches.append(batch)
            uow.commit()
        return batches

    def record(self, endpoint_id: str, results: list[service.AttemptResult]) -> None:
        with self.db.unit_of_work() as uow:
            if results:  # locks the endpoint first, then its deliveries
                service.record_results(uow, results, self.rng)
            # After a failure the endpoint's other due deliveries wait too (at least the first
            # retry delay), so a dead endpoint is not hammered and does not crowd the others.
            failing = bool(results) and not results[-1].succeeded
            until = uow.clock.now() + service.RETRY_SCHEDULE[0] if failing else None
            repo.release_endpoints(uow.session, [endpoint_id], until)
            uow.commit()

    # ------------------------------------------------------------ HTTP (pool threads)

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            t = self.config.timeout_seconds
            client = httpx.Client(
                timeout=httpx.Timeout(t, connect=min(t, 10.0)),
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
                follow_redirects=False,
                trust_env=False,  # a proxy from the environment would bypass the SSRF check
                transport=self.transport,
            )
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def send(self, batch: Batch, target: Target, msg: Message) -> service.AttemptResult:
        """One POST to the checked address (Host header and SNI: the URL's name)."""
        ts = int(time.time())
        headers = signing.headers(batch.keys, msg.msg_id, ts, msg.body)
        headers["content-type"] = "application/json"
        headers["user-agent"] = USER_AGENT
        headers["host"] = target.host_header
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else None
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        try:
            with self._client().stream(
                "POST",
                target.connect_url,
                content=msg.body,
                headers=headers,
                extensions=extensions,
            ) as resp:
                status = resp.status_code
                retry_after = retry_after_seconds(resp.headers.get("retry-after"), started)
                buf = bytearray()
                for chunk in resp.iter_raw():
                    buf += chunk
                    if len(buf) >= EXCERPT_BYTES:
                        break  # response bodies read are capped
                excerpt = bytes(buf[:EXCERPT_BYTES]).decode("utf-8", "replace")[:EXCERPT_CHARS]
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"connection error: {type(exc).__name__}"
        return service.AttemptResult(
            delivery_id=msg.delivery_id,
            endpoint_id=batch.endpoint_id,
            status_code=status,
            latency_ms=int((time.perf_counter() - t0) * 1000),
            error=error,
            excerpt=excerpt or None,
            retry_after=retry_after,
            started_at=started,
        )

    def deliver_sync(self, batch: Batch) -> list[service.AttemptResult]:
        """Resolve and check the host once, then deliver in order; stop at the first failure
        (the rest stay due, untouched) or when the claim's budget is spent."""
        if not batch.messages:
            return []
        try:
            target = resolve_target(batch.url, self.config.allow_private, self.resolver)
        except DestinationRefused as exc:
            return [
                service.AttemptResult(
                    delivery_id=batch.messages[0].delivery_id,
                    endpoint_id=batch.endpoint_id,
                    status_code=None,
                    latency_ms=0,
                    error=f"destination refused: {exc}",
                    started_at=datetime.now(UTC),
                )
            ]
        results: list[service.AttemptResult] = []
        budget = time.monotonic() + self.config.lease.total_seconds() / 2
        for msg in batch.messages:
            r = self.send(batch, target, msg)
            results.append(r)
            if not r.succeeded or time.monotonic() > budget:
                break
        return results

    async def deliver_batch(self, batch: Batch) -> int:
        loop = asyncio.get_running_loop()
        results: list[service.AttemptResult] = []
        try:
            results = await loop.run_in_executor(self._pool, self.deliver_sync, batch)
        finally:
            await asyncio.to_thread(self.record, batch.endpoint_id, results)
        return sum(1 for r in results if r.succeeded)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._clients_lock:
            for c in self._clients:
                c.close()
            self._clients.clear()

    # ------------------------------------------------------------ loops

    async def run_once(self) -> int:
        """Claim what is due now and deliver it all (tests, CLI); returns successes."""
        batches = await asyncio.to_thread(self.claim, self.config.concurrency, set())
        done = await asyncio.gather(*(self.deliver_batch(b) for b in batches))
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
        while not stop.is_set():
            free = self.config.concurrency - len(inflight)
            claimed: list[Batch] = []
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(self.claim, free, set(inflight))
                except Exception:
                    log.exception("claiming webhook deliveries failed")
            for b in claimed:
                task = asyncio.create_task(self.deliver_batch(b))
                inflight[b.endpoint_id] = task
                task.add_done_callback(functools.partial(self._done, inflight, b.endpoint_id))
            if claimed and len(inflight) < self.config.concurrency:
                await asyncio.sleep(0)
                continue
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
        if inflight:
            await asyncio.wait(set(inflight.values()), timeout=self.config.timeout_seconds * 2)

    def _done(
        self, inflight: dict[str, asyncio.Task[int]], endpoint_id: str, t: asyncio.Task[int]
    ) -> None:
        inflight.pop(endpoint_id, None)
        if not t.cancelled() and t.exception() is not None:
            log.error("delivering to %s failed", endpoint_id, exc_info=t.exception())
        if self._wake is not None:
            self._wake.set()


def _dumps(body: object) -> bytes:
    import orjson

    return orjson.dumps(body)
