"""The delivery worker's HTTP client: keep-alive reuse, stale connections, capped answers,
deadlines, and requests that cannot be written safely."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from strongbox.webhooks.ssrf import Target
from strongbox.webhooks.transport import HttpPool, InvalidRequest, RequestFailed

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


class Server:
    """A loopback server answering each request with ``handler`` (which returns whether to
    keep the connection); records every connection and request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    self.requests.append(await _read_request(reader))
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if not await self.handler(reader, writer, len(self.requests)):
                    return
        finally:
            writer.close()

    async def __aenter__(self) -> Target:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return Target("http", "hooks.test", port, ipaddress.ip_address("127.0.0.1"), "/in?x=1")

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def answer(raw: bytes, keep: bool = True) -> Handler:
    async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter, _n: int) -> bool:
        w.write(raw)
        await w.drain()
        return keep

    return handle


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


HEADERS = [("content-type", "application/json"), ("webhook-signature", "v1,abc v1,def")]


def test_one_connection_serves_an_endpoints_events_one_after_another() -> None:
    async def main() -> Server:
        server = Server(answer(OK))
        async with server as target:
            pool = HttpPool(60, 60)
            for i in range(5):
                got = await pool.post(target, HEADERS, b'{"n":%d}' % i)
                assert (got.status, got.excerpt) == (200, b"ok")
            await pool.aclose()
        return server

    server = run(main())
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /in?x=1 HTTP/1.1\r\nhost: hooks.test:")
    assert b"\r\ncontent-length: 7\r\n" in first
    assert b"\r\nwebhook-signature: v1,abc v1,def\r\n" in first
    assert first.endswith(b'\r\n\r\n{"n":0}')


def test_a_connection_the_server_closed_while_idle_is_replaced_once() -> None:
    async def main() -> tuple[Server, int]:
        server = Server(answer(OK, keep=False))  # answers, then closes (no Connection: close)
        async with server as target:
            pool = HttpPool(60, 60)
            statuses = [(await pool.post(target, HEADERS, b"{}")).status for _ in range(3)]
            await pool.aclose()
        return server, len(statuses)

    server, sent = run(main())
    assert sent == 3
    assert len(server.requests) == 3  # each sent once: the retry happened before sending
    assert server.connections == 3


def test_connection_close_and_big_answers_are_not_reused_and_answers_are_capped() -> None:
    big = b"x" * 5000
    replies = [
        b"HTTP/1.1 500 Oops\r\nconnection: close\r\ncontent-length: 2\r\n\r\nno",
        b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big),
        b"HTTP/1.1 429 Slow\r\nretry-after: 120\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    ]

    async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> bool:
        w.write(replies[(n - 1) % 3])
        await w.drain()
        return True

    async def main() -> tuple[Server, list[Any]]:
        server = Server(handle)
        async with server as target:
            pool = HttpPool(60, 60, excerpt_bytes=1024)
            got = [await pool.post(target, HEADERS, b"{}") for _ in range(4)]
            await pool.aclose()
        return server, got

    server, got = run(main())
    assert [a.status for a in got] == [500, 200, 429, 500]
    assert got[0].excerpt == b"no"
    assert got[1].excerpt == big[:1024]
    assert (got[2].excerpt, got[2].retry_after) == (b"abcde", "120")
    # closed after "connection: close" and after the capped answer; the chunked one is kept
    assert server.connections == 3


def test_no_answer_within_the_deadline_is_a_timeout() -> None:
    async def silent(_r: asyncio.StreamReader, _w: asyncio.StreamWriter, _n: int) -> bool:
        await asyncio.sleep(30)
        return False

    async def main() -> RequestFailed:
        async with Server(silent) as target:
            pool = HttpPool(0.2, 0.2)
            with pytest.raises(RequestFailed) as info:
                await pool.post(target, HEADERS, b"{}")
            await pool.aclose()
        return info.value

    failed = run(main())
    assert failed.timeout
    assert str(failed) == "timeout"


def test_a_refused_connection_is_a_connection_error() -> None:
    import socket

    with socket.socket() as hole:  # bound, never listening
        hole.bind(("127.0.0.1", 0))
        target = Target("http", "h", hole.getsockname()[1], ipaddress.ip_address("127.0.0.1"), "/")

        async def main() -> RequestFailed:
            with pytest.raises(RequestFailed) as info:
                await HttpPool(60, 60).post(target, HEADERS, b"{}")
            return info.value

        failed = run(main())
    assert str(failed).startswith("connection error: ")
    assert not failed.timeout


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/in x", HEADERS),  # a space would split the request line
        ("/in\r\nx-injected: 1", HEADERS),
        ("/in", [("x-evil", "a\r\nx-injected: 1")]),
        ("/in", [("bad name", "v")]),
    ],
)
def test_a_request_that_cannot_be_written_safely_is_not_sent(
    path: str, headers: list[tuple[str, str]]
) -> None:
    async def main() -> Server:
        server = Server(answer(OK))
        async with server as target:
            bad = Target(target.scheme, target.host, target.port, target.ip, path)
            with pytest.raises(InvalidRequest):
                await HttpPool(60, 60).post(bad, headers, b"{}")
        return server

    server = run(main())
    assert (server.connections, server.requests) == (0, [])


def test_a_reused_connection_closed_before_any_answer_is_retried_on_a_new_one() -> None:
    """What a receiver that dropped an idle connection looks like from here: the request
    went out, the connection ended without a byte back. Sent once more, on a new
    connection (the receiver may see the webhook-id twice: at least once)."""

    async def drop_second(_r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> bool:
        if n == 2:
            return False  # read the request, close without answering
        w.write(OK)
        await w.drain()
        return True

    async def main() -> tuple[Server, list[int]]:
        server = Server(drop_second)
        async with server as target:
            pool = HttpPool(60, 60)
            got = [(await pool.post(target, HEADERS, b"{}")).status for _ in range(2)]
            await pool.aclose()
        return server, got

    server, got = run(main())
    assert got == [200, 200]
    assert len(server.requests) == 3
    assert server.connections == 2


def test_a_new_connection_closed_before_any_answer_is_an_error_not_a_retry() -> None:
    async def drop(_r: asyncio.StreamReader, _w: asyncio.StreamWriter, _n: int) -> bool:
        return False

    async def main() -> tuple[Server, str]:
        server = Server(drop)
        async with server as target:
            with pytest.raises(RequestFailed) as info:
                await HttpPool(60, 60).post(target, HEADERS, b"{}")
        return server, str(info.value)

    server, error = run(main())
    assert error.startswith("connection error: ")
    assert len(server.requests) == 1
