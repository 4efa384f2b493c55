"""Synchronous code run on the event loop, its blocking calls sent to threads.

The payment path is synchronous code (its unit of work, its services). On the embedded
database every statement is an in-process call of a few microseconds, so handing each
request to a thread (as FastAPI does with a synchronous endpoint) costs more than the work:
a thread hand-off, then the GIL passing back and forth. ``run`` instead runs the code in a
greenlet on the event loop itself; when that code makes a call that may block for long (a
gateway over the network, a shared rate limiter in Redis), ``offload`` switches back to the
event loop, which awaits the call in a worker thread and serves other requests meanwhile,
then resumes the code with the result. Outside ``run``, ``offload`` just calls.

Code run this way must not hold a lock across ``offload`` (no gateway call inside a
transaction is already the rule: the write gate and the transaction are never held then).
The ``greenlet`` package is SQLAlchemy's own bridge for the same purpose.

On PostgreSQL the driver's own waits go to the event loop too (``db/green.py``): a statement
sent, the code waits for the socket with ``wait_fd`` and the loop serves other requests
meanwhile, so many requests share one thread without handing each to a worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, cast

import anyio.to_thread
from greenlet import getcurrent, greenlet

T = TypeVar("T")


class _Bridged(greenlet):  # type: ignore[misc]
    """The greenlet ``run`` runs code in (its parent is the event loop's)."""


class FdWait:
    """What ``wait_fd`` asks the event loop for: a file descriptor to become readable
    and/or writable."""

    __slots__ = ("fd", "read", "write")

    def __init__(self, fd: int, read: bool, write: bool) -> None:
        self.fd = fd
        self.read = read
        self.write = write


async def run(fn: Callable[[], T]) -> T:
    """Run ``fn`` here, on the event loop, until it offloads a call or waits on a socket;
    await that (a worker thread, or the loop's own readiness callbacks) and resume ``fn``
    with its result (or its exception), until ``fn`` returns."""
    current = getcurrent()
    g = _Bridged(fn, current)
    g.gr_context = current.gr_context  # the request's context variables (its request id)
    value: Any = g.switch()
    while not g.dead:
        try:
            if type(value) is FdWait:
                result: Any = await _ready(value)
            else:
                result = await anyio.to_thread.run_sync(value)
        except BaseException as exc:  # noqa: BLE001 - raised where the call was made
            value = g.throw(exc)
        else:
            value = g.switch(result)
    return cast(T, value)


async def _ready(w: FdWait) -> tuple[bool, bool]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[bool, bool]] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result((True, False))

    def writable() -> None:
        if not done.done():
            done.set_result((False, True))

    if w.read:
        loop.add_reader(w.fd, readable)
    if w.write:
        loop.add_writer(w.fd, writable)
    try:
        return await done
    finally:
        if w.read:
            loop.remove_reader(w.fd)
        if w.write:
            loop.remove_writer(w.fd)


def bridged() -> bool:
    """Whether the caller runs under ``run`` (its waits can go to the event loop)."""
    return isinstance(getcurrent(), _Bridged)


def wait_fd(fd: int, *, read: bool, write: bool) -> tuple[bool, bool]:
    """Under ``run``: let the event loop serve others until ``fd`` is ready; returns
    (readable, writable). The caller checks ``bridged()`` first."""
    current = getcurrent()
    return cast(tuple[bool, bool], current.parent.switch(FdWait(fd, read, write)))


def offload(call: Callable[[], T]) -> T:
    """Make a call that may block: in a worker thread when run under ``run`` (the event
    loop goes on meanwhile), directly otherwise."""
    current = getcurrent()
    if isinstance(current, _Bridged):
        return cast(T, current.parent.switch(call))
    return call()
