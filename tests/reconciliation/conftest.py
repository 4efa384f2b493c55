"""Fixtures for reconciliation tests: the local Stripe fake (a real HTTP server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.fakes.stripe_fake import StripeFake
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.connectors.stripe import StripeConnector
from strongbox.runtime import Runtime


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[tuple[StripeFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = StripeFake(engine)
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def stripe(runtime: Runtime, stripe_server: tuple[StripeFake, BackgroundServer]) -> StripeFake:
    fake, server = stripe_server
    fake.engine.reset()
    fake.reset()
    url = server.url
    runtime.connectors.register(
        "stripe", lambda: StripeConnector(url, connect_timeout=1.0, read_timeout=1.0)
    )
    return fake
