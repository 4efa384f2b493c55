"""db/green: PostgreSQL connections whose waits go to the event loop under core/bridge.run
(the payment path's requests), and block as usual anywhere else."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from strongbox.core import bridge
from strongbox.db.engine import make_engine
from strongbox.db.green import GreenConnection

PG_URL = os.environ.get("STRONGBOX_TEST_DATABASE_URL")
pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    if not PG_URL:
        pytest.skip("STRONGBOX_TEST_DATABASE_URL is unset")
    eng = make_engine(PG_URL, pool_size=4)
    try:
        yield eng
    finally:
        eng.dispose()


def _sleep_then_answer(engine: sa.Engine, order: list[str], name: str) -> int:
    with engine.connect() as conn:
        order.append(f"{name} sent")
        value = conn.execute(sa.text("SELECT pg_sleep(0.3), 7")).one()[1]
        order.append(f"{name} done")
        return int(value)


def test_the_engine_makes_green_connections_that_work_outside_the_bridge(
    engine: sa.Engine,
) -> None:
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, GreenConnection)
        assert conn.execute(sa.text("SELECT 41 + 1")).scalar() == 42


def test_under_the_bridge_a_waiting_statement_lets_other_requests_run(engine: sa.Engine) -> None:
    # a fresh engine: both requests make the pool's first connections at once (the dialect's
    # first queries run under a thread lock; a request switching away there hung the loop)
    order: list[str] = []

    async def main() -> list[int]:
        return list(
            await asyncio.gather(
                bridge.run(lambda: _sleep_then_answer(engine, order, "a")),
                bridge.run(lambda: _sleep_then_answer(engine, order, "b")),
            )
        )

    assert asyncio.run(main()) == [7, 7]
    # both statements were in flight at once, on one thread: b was sent while a waited
    assert order.index("b sent") < order.index("a done")
    assert order.index("a sent") < order.index("b done")


def test_without_the_bridge_the_same_code_waits_in_place(engine: sa.Engine) -> None:
    order: list[str] = []
    assert _sleep_then_answer(engine, order, "a") == 7
    assert _sleep_then_answer(engine, order, "b") == 7
    assert order == ["a sent", "a done", "b sent", "b done"]


def test_a_server_error_under_the_bridge_is_raised_to_the_code(engine: sa.Engine) -> None:
    def code() -> str:
        with engine.connect() as conn:
            try:
                conn.execute(sa.text("SELECT 1 / 0"))
            except sa.exc.DataError as exc:
                return type(exc.orig).__name__
        return "no error"

    assert asyncio.run(bridge.run(code)) == "DivisionByZero"


def test_a_pipeline_goes_to_the_event_loop_only_to_wait_for_answers(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # psycopg's pipeline asks "readable or writable" before each command it sends; the socket
    # is writable at once, so those must not cost a trip through the event loop each (they
    # did: 42 loop waits per payment, now about 3)
    trips: list[bridge.FdWait] = []
    real = bridge._ready

    async def counted(w: bridge.FdWait) -> tuple[bool, bool]:
        trips.append(w)
        return await real(w)

    monkeypatch.setattr(bridge, "_ready", counted)

    def twenty_selects() -> list[int]:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert isinstance(raw, GreenConnection)
            cursors = []
            with raw.pipeline():
                for i in range(20):
                    cur = raw.cursor()
                    cur.execute("SELECT %s::int", (i,))
                    cursors.append(cur)
            return [int(c.fetchone()[0]) for c in cursors]

    assert asyncio.run(bridge.run(twenty_selects)) == list(range(20))
    # the answers may take a few reads; twenty commands never need twenty trips
    assert len(trips) <= 6
