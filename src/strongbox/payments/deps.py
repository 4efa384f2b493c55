"""What the payment use cases need from the rest of the platform, bundled once at start-up.

No rules live here: each use case is its own module (``intents``, ``confirm``, ``capture``,
``refunds``, ``outcomes``, ``recovery`` …) and takes this bundle when it needs a connector,
the card source, routing, breakers or the vault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from strongbox.banking.providers.base import AccountNumbers
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.core.settings import RETRY_BACKOFF_MAX_SECONDS
from strongbox.db.uow import UnitOfWork
from strongbox.payments.cards import CardSource
from strongbox.routing.health import ConnectorHealth
from strongbox.routing.service import RoutingService
from strongbox.vault.service import VaultService


class BankDebits(Protocol):
    """What a ``us_bank_account`` debit needs from bank data (``banking/debits.py``)."""

    def account_numbers(
        self, uow: UnitOfWork, merchant_id: str, account_id: str
    ) -> tuple[AccountNumbers, str]:
        """The linked account's ACH numbers for one call, and its subcategory."""
        ...

    def insufficient(self, merchant_id: str, account_id: str, amount: int, currency: str) -> bool:
        """A balance read from the provider now does not cover ``amount`` (no transaction
        may be open: a provider call)."""
        ...


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
    #: Debits of ``us_bank_account`` PaymentMethods (issue 20); None: refused.
    bank: BankDebits | None = None

    def require_vault(self) -> VaultService:
        if self.vault is None:
            raise RuntimeError("the payments domain was built without a vault")
        return self.vault
