"""Shared fixtures: a Strongbox runtime on SQLite, and on PostgreSQL when configured.

``STRONGBOX_TEST_DATABASE_URL`` adds a PostgreSQL variant of every ``runtime``-based test.
``STRONGBOX_REQUIRE_SERVICES=1`` (set by CI) turns "service missing" into a failure.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.core.settings import Settings, normalize_database_url
from strongbox.db.engine import make_engine
from strongbox.db.metadata import target_metadata
from strongbox.db.migrate import upgrade
from strongbox.runtime import Runtime, build_runtime
from support import LiveServer, Merchant, make_merchant

PG_URL = os.environ.get("STRONGBOX_TEST_DATABASE_URL")
REQUIRE = os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1"


def _backends() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    if PG_URL:
        params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    elif REQUIRE:
        raise RuntimeError("STRONGBOX_REQUIRE_SERVICES=1 but STRONGBOX_TEST_DATABASE_URL is unset")
    return params


_pg_url: str | None = None


def _session_database() -> str:
    """A database of this test session's own on the configured server, dropped at exit."""
    global _pg_url
    if _pg_url is not None:
        return _pg_url
    assert PG_URL
    base = sa.engine.make_url(normalize_database_url(PG_URL))
    name = f"strongbox_test_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    except sa.exc.OperationalError as exc:
        if REQUIRE:
            raise RuntimeError(f"PostgreSQL unreachable at {base.host}:{base.port}") from exc
        pytest.skip("PostgreSQL unreachable")
    finally:
        admin.dispose()

    def drop() -> None:
        eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()

    atexit.register(drop)
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=2)
    upgrade(engine)
    engine.dispose()
    _pg_url = url
    return url


def _prepare_postgres() -> str:
    url = _session_database()
    engine = make_engine(url, pool_size=2)
    tables = ", ".join(f'"{t.name}"' for t in target_metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY"))
    engine.dispose()
    return url


NATS_URL = os.environ.get("STRONGBOX_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The NATS server (JetStream on) the bus tests use: ``STRONGBOX_TEST_NATS_URL``. Missing,
    the tests skip, or fail under ``STRONGBOX_REQUIRE_SERVICES=1``."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(NATS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 5).close()
    except OSError as exc:
        if REQUIRE:
            raise RuntimeError(f"NATS unreachable at {NATS_URL}") from exc
        pytest.skip("NATS unreachable")
    return NATS_URL


@pytest.fixture
def bus_stream() -> Iterator[str]:
    """A JetStream stream of this test's own (deleted afterwards)."""
    import secrets

    name = f"T{secrets.token_hex(6).upper()}"
    yield name
    _delete_stream(name)


def _delete_stream(name: str) -> None:
    import asyncio
    import contextlib

    import nats
    from nats.js.errors import NotFoundError

    async def drop() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=5)
        with contextlib.suppress(NotFoundError):  # never created
            await nc.jetstream().delete_stream(name)
        await nc.close()

    with contextlib.suppress(OSError, nats.errors.Error):  # cleanup of a test stream only
        asyncio.run(drop())


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Settings:
    url = _prepare_postgres() if backend == "postgresql" else None
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        run_workers=False,
        gateway_retries=2,
        threads=8,
        public_url="http://testserver",
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    # Keep gateway retry back-off short in tests.
    rt.payments.config = replace(
        rt.payments.config, retry_initial_seconds=0.001, retry_max_seconds=0.01
    )
    yield rt
    rt.close()


@pytest.fixture
def merchant(runtime: Runtime) -> Merchant:
    return make_merchant(runtime)


@pytest.fixture
def new_merchant(runtime: Runtime) -> Any:
    """A factory: ``new_merchant("Name") -> Merchant`` on the test's runtime."""
    return lambda name="Other merchant": make_merchant(runtime, name)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_workers=False), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def api(client: TestClient, merchant: Merchant) -> TestClient:
    """A client authenticated as ``merchant``."""
    client.headers.update(merchant.headers)
    return client


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    with LiveServer(runtime) as server:
        yield server
