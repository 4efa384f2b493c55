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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import anyio.to_thread
from greenlet import getcurrent, greenlet

T = TypeVar("T")


class _Bridged(greenlet):  # type: ignore[misc]
    """The greenlet ``run`` runs code in (its parent is the event loop's)."""


async def run(fn: Callable[[], T]) -> T:
    """Run ``fn`` here, on the event loop, until it offloads a call; await that call in a
    thread and resume ``fn`` with its result (or its exception), until ``fn`` returns."""
    current = getcurrent()
    g = _Bridged(fn, current)
    g.gr_context = current.gr_context  # the request's context variables (its request id)
    value: Any = g.switch()
    while not g.dead:
        try:
            result = await anyio.to_thread.run_sync(value)
        except BaseException as exc:  # noqa: BLE001 - raised where the call was made
            value = g.throw(exc)
        else:
            value = g.switch(result)
    return cast(T, value)


def offload(call: Callable[[], T]) -> T:
    """Make a call that may block: in a worker thread when run under ``run`` (the event
    loop goes on meanwhile), directly otherwise."""
    current = getcurrent()
    if isinstance(current, _Bridged):
        return cast(T, current.parent.switch(call))
    return call()
