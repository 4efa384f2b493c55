"""core/bridge: synchronous code run on the event loop, its blocking calls and socket waits
handed back to the loop so that other requests go on meanwhile."""

from __future__ import annotations

import asyncio
import contextvars
import socket
import threading

import pytest

from strongbox.core import bridge

REQUEST = contextvars.ContextVar("request", default="none")


def test_run_returns_what_the_code_returns_and_sees_the_callers_context() -> None:
    async def main() -> tuple[str, bool]:
        REQUEST.set("req_1")
        return await bridge.run(lambda: (REQUEST.get(), bridge.bridged()))

    assert asyncio.run(main()) == ("req_1", True)
    assert bridge.bridged() is False


def test_offload_runs_in_a_worker_thread_while_the_loop_serves_others() -> None:
    release = threading.Event()
    order: list[str] = []

    def blocking() -> str:
        order.append("call started")
        assert release.wait(30)
        return threading.current_thread().name

    def code() -> str:
        return bridge.offload(blocking)

    async def other() -> None:
        while "call started" not in order:
            await asyncio.sleep(0.01)
        order.append("loop served another")
        release.set()

    async def main() -> str:
        result, _ = await asyncio.gather(bridge.run(code), other())
        return result

    thread = asyncio.run(main())
    assert thread != threading.main_thread().name
    assert order == ["call started", "loop served another"]


def test_an_offloaded_calls_exception_is_raised_where_the_call_was_made() -> None:
    def failing() -> None:
        raise ValueError("gateway down")

    def code() -> str:
        try:
            bridge.offload(failing)
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    assert asyncio.run(bridge.run(code)) == "caught gateway down"


def test_an_exception_of_the_code_reaches_the_awaiting_caller() -> None:
    def code() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        asyncio.run(bridge.run(code))


def test_offload_outside_run_just_calls() -> None:
    assert bridge.offload(lambda: threading.current_thread().name) == (
        threading.current_thread().name
    )


def test_wait_fd_lets_the_loop_run_until_the_socket_is_readable() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    order: list[str] = []

    def code() -> bytes:
        order.append("waiting")
        readable, writable = bridge.wait_fd(a.fileno(), read=True, write=False)
        order.append("ready")
        assert (readable, writable) == (True, False)
        return a.recv(16)

    async def writer() -> None:
        while "waiting" not in order:
            await asyncio.sleep(0.01)
        order.append("loop wrote")  # the loop is free while the code waits
        b.send(b"hello")

    async def main() -> bytes:
        got, _ = await asyncio.gather(bridge.run(code), writer())
        return got

    try:
        assert asyncio.run(main()) == b"hello"
    finally:
        a.close()
        b.close()
    assert order == ["waiting", "loop wrote", "ready"]


def test_wait_fd_for_writing() -> None:
    a, b = socket.socketpair()

    def code() -> tuple[bool, bool]:
        return bridge.wait_fd(a.fileno(), read=False, write=True)

    try:
        assert asyncio.run(bridge.run(code)) == (False, True)
    finally:
        a.close()
        b.close()
