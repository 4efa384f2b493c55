"""What the payment use cases need from the rest of the platform, bundled once at start-up.

No rules live here: each use case is its own module (``intents``, ``confirm``, ``capture``,
``refunds``, ``outcomes``, ``recovery`` …) and takes this bundle when it needs a connector,
the card source, routing, breakers or the vault.
"""

from __future__ import annotations

from dataclasses import dataclass

from strongbox.connectors.registry import ConnectorRegistry
from strongbox.core.settings import RETRY_BACKOFF_MAX_SECONDS
from strongbox.payments.cards import CardSource
from strongbox.routing.health import ConnectorHealth
from strongbox.routing.service import RoutingService
from strongbox.vault.service import VaultService


@dataclass(frozen=True, slots=True)
class PaymentsConfig:
    default_connector: str = "simulator"
    gateway_retries: int = 2
    retry_initial_seconds: float = 0.05
    retry_max_seconds: float = RETRY_BACKOFF_MAX_SECONDS
    #: A gateway call in flight holds its attempt this long, renewed while it runs.
    attempt_lease_seconds: float = 15.0


@dataclass(slots=True)
class Payments:
    """The payments domain's collaborators (``runtime.payments``)."""

    connectors: ConnectorRegistry
    cards: CardSource
    config: PaymentsConfig
    vault: VaultService | None = None
    routing: RoutingService | None = None
    health: ConnectorHealth | None = None

    def require_vault(self) -> VaultService:
        if self.vault is None:
            raise RuntimeError("the payments domain was built without a vault")
        return self.vault
