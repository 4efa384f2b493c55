"""The delivery worker's HTTP/1.1 client: asyncio streams, httptools, keep-alive pools.

Built for one job: POST a small signed body to an address the SSRF guard already checked,
with the URL's name as ``Host`` header and TLS SNI (certificates verified against that
name), read at most a capped excerpt of the answer, and keep the connection for the
endpoint's next event. Per request it costs a fraction of a general-purpose client's CPU
(``docs/benchmarks.md``, webhook deliveries), which is what bounds one worker process.

* Connections are pooled per destination (scheme, address, port, name); a batch for one
  endpoint takes one connection and sends its events one after another on it.
* Answers are parsed by httptools (llhttp, uvicorn's parser); the request is written out
  here, from values checked to hold no control characters (a URL's path is sent as stored
  only if it is printable ASCII without spaces).
* No redirects, no proxies, no environment: the connection goes where the guard said.
* Every request has a deadline (``timeout``; connecting at most ``connect_timeout``).
* A request that fails on a reused keep-alive connection before any byte of an answer came
  back (the server closed it while idle) is sent once more on a new connection. Deliveries
  are at least once and carry their ``webhook-id``, so a receiver may see it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from dataclasses import dataclass

import httptools

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


_TARGET = re.compile(r"/[\x21-\x7e]*")  # origin-form, printable ASCII, no spaces
_FIELD = re.compile(r"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*")  # a header value, no CR/LF/NUL
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


class _Answer:
    """httptools callbacks for one answer: status line, Retry-After, a capped body."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.retry_after: str | None = None
        self.body = bytearray()
        self.capped = False
        self.headers_done = False
        self.keep_alive = False
        self.complete = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True
        # Asked now: llhttp forgets it once the message is complete.
        self.keep_alive = self.parser is not None and bool(self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        room = self.cap - len(self.body)
        if room > 0:
            self.body += body[:room]
        if len(body) > room:
            self.capped = True  # the rest is not kept; the connection is not reused

    def on_message_complete(self) -> None:
        self.complete = True


@dataclass(slots=True)
class _Conn:
    key: PoolKey
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
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
        request = _request(t, headers, body)
        deadline = time.monotonic() + self.timeout
        for _ in range(2):
            conn = self._take(_key(t))
            try:
                if conn is None:
                    conn = await self._connect(t)
                remaining = deadline - time.monotonic()
                answer, reusable = await asyncio.wait_for(
                    self._exchange(conn, request), max(remaining, 0.001)
                )
            except _Stale:
                if conn is not None:
                    conn.close()
                continue  # the server closed it while idle: once more on a new connection
            except TimeoutError:
                if conn is not None:
                    conn.close()
                raise RequestFailed("timeout", timeout=True) from None
            except (OSError, ssl.SSLError, httptools.HttpParserError, EOFError) as exc:
                if conn is not None:
                    conn.close()
                raise RequestFailed(f"connection error: {type(exc).__name__}") from None
            except asyncio.CancelledError:
                if conn is not None:
                    conn.close()  # mid-request: never back to the pool
                raise
            if reusable:
                self._put(conn)
            else:
                conn.close()
            return answer
        raise RequestFailed("connection error: closed by the server")

    async def _exchange(self, conn: _Conn, request: bytes) -> tuple[Answer, bool]:
        got = _Answer(self.excerpt_bytes)
        parser = got.parser = httptools.HttpResponseParser(got)
        received = False
        try:
            conn.writer.write(request)
            await conn.writer.drain()
            while not got.complete and not got.capped:
                data = await conn.reader.read(65536)
                if not data:
                    if not received and conn.reused:
                        raise _Stale
                    if got.headers_done:
                        break  # a body delimited by the end of the connection
                    raise EOFError("closed before an answer")
                received = True
                parser.feed_data(data)
        except (ConnectionResetError, BrokenPipeError):
            if conn.reused and not received:
                raise _Stale from None
            raise
        reusable = got.complete and not got.capped and got.keep_alive
        status = int(parser.get_status_code())
        return Answer(status, got.retry_after, bytes(got.body)), reusable


class InvalidRequest(RequestFailed):
    """The request cannot be written as HTTP/1.1 (a control character in a field)."""


def _request(t: Target, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """The request head and body, every field checked for characters HTTP forbids."""
    if not _TARGET.fullmatch(t.path):
        raise InvalidRequest("invalid request: the URL's path must be printable ASCII")
    lines = [f"POST {t.path} HTTP/1.1", f"host: {t.host_header}", f"content-length: {len(body)}"]
    for name, value in headers:
        if not _NAME.fullmatch(name) or not _FIELD.fullmatch(value):
            raise InvalidRequest(f"invalid request: header {name!r}")
        lines.append(f"{name}: {value}")
    if not _FIELD.fullmatch(t.host_header):
        raise InvalidRequest("invalid request: host")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body
