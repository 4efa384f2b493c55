"""Fixtures for routing tests: two in-process simulator gateways and a fake Stripe."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from connectors.fakes.braintree_fake import BraintreeFake
from connectors.fakes.stripe_fake import StripeFake
from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CardData,
    ConnectorError,
    InvalidTokenError,
    OperationResult,
    TokenDetails,
    TokenRequest,
)
from strongbox.connectors.braintree import BraintreeConnector
from strongbox.connectors.simulator import SimulatorConnector, SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.connectors.stripe import StripeConnector
from strongbox.core.secret import Secret
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


class TokenGateway(SimulatorConnector):
    """An in-process gateway that also keeps cards behind tokens of its own, as Stripe.js or
    Braintree's client SDK make them: the connector never receives the card number."""

    capabilities = SimulatorConnector.capabilities | Capability.GATEWAY_TOKEN

    def __init__(self, engine: SimulatorEngine) -> None:
        super().__init__(engine)
        self.tokens: dict[str, CardData] = {}
        self.authorized_tokens: list[str] = []  # single use: one new authorization each
        self.keys: set[str] = set()
        self.described: list[str] = []
        self.describe_errors: list[ConnectorError] = []

    def make_token(self, number: str = "4242424242424242") -> str:
        token = f"tok_sim_{uuid.uuid4().hex[:16]}"
        self.tokens[token] = CardData(number=Secret(number), exp_month=11, exp_year=2038)
        return token

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        if request.token is None:
            return super().authorize(request)
        card = self.tokens.get(request.token)
        if card is None:
            raise InvalidTokenError("no such token")
        if request.token in self.authorized_tokens and request.idempotency_key not in self.keys:
            raise InvalidTokenError("this single-use token was used already")
        self.authorized_tokens.append(request.token)
        self.keys.add(request.idempotency_key)
        return super().authorize(dataclasses.replace(request, card=card, token=None))

    def describe_token(self, request: TokenRequest) -> TokenDetails:
        self.described.append(request.token)
        if self.describe_errors:
            raise self.describe_errors.pop(0)
        card = self.tokens.get(request.token)
        if card is None:
            raise InvalidTokenError("no such token")
        number = card.number.reveal()
        return TokenDetails(
            brand="visa" if number.startswith("4") else "mastercard",
            last4=number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            funding="debit",
            country="GB",
            fingerprint=f"fp{number[-6:]}",
            reusable=False,
        )


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
