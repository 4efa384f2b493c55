"""Fixtures for routing tests: two in-process simulator gateways and a fake Stripe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from connectors.fakes.braintree_fake import BraintreeFake
from connectors.fakes.stripe_fake import StripeFake
from routing.token_gateway import TokenGateway
from strongbox.connectors.braintree import BraintreeConnector
from strongbox.connectors.simulator import SimulatorConnector, SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.connectors.stripe import StripeConnector
from strongbox.routing.health import BreakerSettings
from strongbox.runtime import Runtime


@dataclass
class Gateways:
    a: SimulatorEngine
    b: SimulatorEngine


@pytest.fixture
def gateways(runtime: Runtime) -> Gateways:
    """Connectors ``sim_a`` and ``sim_b``: two separate simulated gateways."""
    a = SimulatorEngine(base_url="http://sim-a.test")
    b = SimulatorEngine(base_url="http://sim-b.test")
    runtime.connectors.register("sim_a", lambda: SimulatorConnector(a))
    runtime.connectors.register("sim_b", lambda: SimulatorConnector(b))
    runtime.health.settings = BreakerSettings(fail_max=3, reset_seconds=60, min_calls=1000)
    return Gateways(a, b)


@pytest.fixture
def token_gateway(runtime: Runtime, gateways: Gateways) -> TokenGateway:
    """Connector ``sim_tokens``: a third simulated gateway that holds tokens."""
    connector = TokenGateway(SimulatorEngine(base_url="http://sim-tokens.test"))
    runtime.connectors.register("sim_tokens", lambda: connector)
    return connector


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
    fake.engine.hang_seconds = 2.0
    url = server.url
    runtime.connectors.register(
        "stripe", lambda: StripeConnector(url, connect_timeout=1.0, read_timeout=1.0)
    )
    return fake


@pytest.fixture(scope="session")
def braintree_server() -> Iterator[tuple[BraintreeFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = BraintreeFake(engine, "bt_merchant", "bt_public", "bt_private_key_value")
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def braintree(
    runtime: Runtime, braintree_server: tuple[BraintreeFake, BackgroundServer]
) -> BraintreeFake:
    fake, server = braintree_server
    fake.engine.reset()
    fake.reset()
    url = server.url
    runtime.connectors.register(
        "braintree", lambda: BraintreeConnector(url, connect_timeout=1.0, read_timeout=1.0)
    )
    return fake
