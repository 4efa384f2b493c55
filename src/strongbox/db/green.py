"""psycopg connections whose waits go to the event loop when the code runs under
``core/bridge.run`` (the payment path's requests), and block as usual anywhere else
(background workers, the CLI, tests).

psycopg drives every exchange with the server as a generator that yields what it waits for
(readable, writable) and is sent back what became ready; ``Connection.wait`` runs such a
generator. Here, under the bridge, each wait becomes ``bridge.wait_fd``: the request's
greenlet switches to the event loop, which resumes it when the socket is ready. This is
psycopg's own async machinery (``psycopg.waiting.wait_async``) driven from synchronous code.
The states are ``selectors``' bit flags, as psycopg's own ``Wait`` and ``Ready`` are.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from selectors import EVENT_READ, EVENT_WRITE
from typing import Any

import psycopg
from psycopg.abc import PQGen
from sqlalchemy.engine import make_url

from strongbox.core import bridge


class GreenConnection(psycopg.Connection[Any]):
    #: Off until the pool's connect events have run (``ready``): SQLAlchemy runs the first
    #: connection's events (the dialect's first queries) under a thread lock, and a request
    #: switching away while holding it would leave the next one blocking the event loop's
    #: thread on that lock, for good.
    green = False

    def wait(self, gen: PQGen[Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is not None or not self.green or not bridge.bridged():
            return super().wait(gen, interval=interval, timeout=timeout)
        fd = self.pgconn.socket
        poll = select.poll()
        registered = 0
        try:
            state = next(gen)
            while True:
                # Ask the kernel first, without waiting: a socket is nearly always writable
                # (psycopg's pipeline asks "readable or writable" before each command it
                # sends), and an answer may already be in; only a real wait goes to the loop.
                mask = _POLL_MASKS[state]
                if mask != registered:
                    poll.register(fd, mask)
                    registered = mask
                events = poll.poll(0)
                if events:
                    ev = events[0][1]
                    ready = (EVENT_WRITE if ev & select.POLLOUT else 0) | (
                        EVENT_READ if ev & ~select.POLLOUT else 0  # errors: read to see them
                    )
                else:
                    readable, writable = bridge.wait_fd(
                        fd, read=bool(state & EVENT_READ), write=bool(state & EVENT_WRITE)
                    )
                    ready = (EVENT_READ if readable else 0) | (EVENT_WRITE if writable else 0)
                state = gen.send(ready)
        except StopIteration as ex:
            return ex.value


_POLL_MASKS = {
    EVENT_READ: select.POLLIN,
    EVENT_WRITE: select.POLLOUT,
    EVENT_READ | EVENT_WRITE: select.POLLIN | select.POLLOUT,
}


def creator(url: str) -> Callable[[], GreenConnection]:
    """A connection factory for SQLAlchemy's ``creator``: ``GreenConnection``s made with the
    arguments the psycopg dialect itself would use."""
    u = make_url(url)
    dialect = u.get_dialect()()
    cargs, cparams = dialect.create_connect_args(u)

    def connect() -> GreenConnection:
        return GreenConnection.connect(*cargs, **cparams)

    return connect


def ready(dbapi_connection: Any, _record: Any) -> None:
    """The pool's last ``connect`` listener: from here on the connection's waits may go green."""
    if isinstance(dbapi_connection, GreenConnection):
        dbapi_connection.green = True
