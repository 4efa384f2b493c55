"""The delivery worker's HTTP/1.1 client: asyncio streams, h11 framing, keep-alive pools.

Built for one job: POST a small signed body to an address the SSRF guard already checked,
with the URL's name as ``Host`` header and TLS SNI (certificates verified against that
name), read at most a capped excerpt of the answer, and keep the connection for the
endpoint's next event. Per request it costs a fraction of a general-purpose client's CPU
(``docs/benchmarks.md``, webhook deliveries), which is what bounds one worker process.

* Connections are pooled per destination (scheme, address, port, name); a batch for one
  endpoint takes one connection and sends its events one after another on it.
* No redirects, no proxies, no environment: the connection goes where the guard said.
* Every request has a deadline (``timeout``; connecting at most ``connect_timeout``).
* A request that fails on a reused keep-alive connection before any byte of an answer came
  back (the server closed it while idle) is sent once more on a new connection. Deliveries
  are at least once and carry their ``webhook-id``, so a receiver may see it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field

import h11

from strongbox.webhooks.ssrf import Target

IDLE_SECONDS = 30.0  # an idle keep-alive connection is closed after this
MAX_IDLE = 256  # idle connections kept at most, over every destination

PoolKey = tuple[str, str, int, str]


@dataclass(slots=True)
class Answer:
    status: int
    retry_after: str | None
    excerpt: bytes


class RequestFailed(Exception):
    """No answer: the connection failed or the deadline passed (``timeout``)."""

    def __init__(self, reason: str, *, timeout: bool = False) -> None:
        super().__init__(reason)
        self.timeout = timeout


class _Stale(Exception):
    """A reused connection was closed by the server before it answered."""


@dataclass(slots=True)
class _Conn:
    key: PoolKey
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


def _key(t: Target) -> PoolKey:
    return (t.scheme, str(t.ip), t.port, t.host)


class HttpPool:
    """Keep-alive connections by destination. Use inside one event loop; ``aclose`` at end."""

    def __init__(
        self, timeout: float, connect_timeout: float, *, excerpt_bytes: int = 1024
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.excerpt_bytes = excerpt_bytes
        self._idle: dict[PoolKey, list[_Conn]] = {}
        self._idle_count = 0
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()  # verifies the name, system CAs
        return self._tls

    async def _connect(self, t: Target) -> _Conn:
        tls = self._tls_context() if t.scheme == "https" else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                str(t.ip), t.port, ssl=tls, server_hostname=t.host if tls else None
            ),
            self.connect_timeout,
        )
        return _Conn(_key(t), reader, writer)

    def _take(self, key: PoolKey) -> _Conn | None:
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            c = conns.pop()
            self._idle_count -= 1
            if now - c.idle_since < IDLE_SECONDS and not c.reader.at_eof():
                c.reused = True
                return c
            c.close()
        return None

    def _put(self, c: _Conn) -> None:
        if self._idle_count >= MAX_IDLE:
            self.sweep(force_oldest=True)
        if self._idle_count >= MAX_IDLE:
            c.close()
            return
        c.idle_since = time.monotonic()
        self._idle.setdefault(c.key, []).append(c)
        self._idle_count += 1

    def sweep(self, *, force_oldest: bool = False) -> None:
        """Close idle connections past ``IDLE_SECONDS`` (and, if asked, the oldest one)."""
        now = time.monotonic()
        oldest: _Conn | None = None
        for key, conns in list(self._idle.items()):
            keep = []
            for c in conns:
                if now - c.idle_since >= IDLE_SECONDS or c.reader.at_eof():
                    c.close()
                    self._idle_count -= 1
                else:
                    keep.append(c)
                    if oldest is None or c.idle_since < oldest.idle_since:
                        oldest = c
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        if force_oldest and oldest is not None:
            self._idle[oldest.key].remove(oldest)
            if not self._idle[oldest.key]:
                del self._idle[oldest.key]
            self._idle_count -= 1
            oldest.close()

    async def aclose(self) -> None:
        conns = [c for cs in self._idle.values() for c in cs]
        self._idle.clear()
        self._idle_count = 0
        for c in conns:
            c.close()
        for c in conns:
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(c.writer.wait_closed(), 1.0)

    async def post(self, t: Target, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """POST ``body`` to the checked target; raises ``RequestFailed`` without an answer."""
        deadline = time.monotonic() + self.timeout
        for _ in range(2):
            conn = self._take(_key(t))
            try:
                if conn is None:
                    conn = await self._connect(t)
                remaining = deadline - time.monotonic()
                answer, reusable = await asyncio.wait_for(
                    self._exchange(conn, t, headers, body), max(remaining, 0.001)
                )
            except _Stale:
                if conn is not None:
                    conn.close()
                continue  # the server closed it while idle: once more on a new connection
            except TimeoutError:
                if conn is not None:
                    conn.close()
                raise RequestFailed("timeout", timeout=True) from None
            except (OSError, ssl.SSLError, h11.ProtocolError, EOFError) as exc:
                if conn is not None:
                    conn.close()
                raise RequestFailed(f"connection error: {type(exc).__name__}") from None
            if reusable:
                self._put(conn)
            else:
                conn.close()
            return answer
        raise RequestFailed("connection error: closed by the server")

    async def _exchange(
        self, conn: _Conn, t: Target, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[Answer, bool]:
        h = conn.h11
        request = h11.Request(
            method="POST",
            target=t.path,
            headers=[("host", t.host_header), ("content-length", str(len(body))), *headers],
        )
        conn.writer.write(
            h.send(request) + h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage())
        )
        got_bytes = False
        try:
            await conn.writer.drain()
            status = 0
            retry_after: str | None = None
            excerpt = bytearray()
            capped = False
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    data = await conn.reader.read(65536)
                    if not data and not got_bytes and conn.reused:
                        raise _Stale
                    got_bytes = got_bytes or bool(data)
                    h.receive_data(data)
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    for name, value in event.headers:
                        if name == b"retry-after":
                            retry_after = value.decode("latin-1")
                elif isinstance(event, h11.Data):
                    excerpt += event.data
                    if len(excerpt) >= self.excerpt_bytes:
                        capped = True  # the rest is not read; the connection is not reused
                        break
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
        except (ConnectionResetError, BrokenPipeError):
            if conn.reused and not got_bytes:
                raise _Stale from None
            raise
        if status == 0:
            raise EOFError("closed before an answer")
        reusable = not capped and h.our_state is h11.DONE and h.their_state is h11.DONE
        if reusable:
            h.start_next_cycle()
        return Answer(status, retry_after, bytes(excerpt[: self.excerpt_bytes])), reusable
