"""``TokenGateway``: an in-process simulated gateway that keeps cards behind its own tokens."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CardData,
    InvalidTokenError,
    OperationResult,
    TokenDetails,
    TokenRequest,
)
from strongbox.connectors.simulator import SimulatorConnector, SimulatorEngine
from strongbox.core.secret import Secret


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
        self.describe_errors: list[Exception] = []
        self.on_describe: Callable[[], None] | None = None

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
        if self.on_describe is not None:
            self.on_describe()
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
