"""The bank-data providers a server runs, and what their callers need beside them: the
vault's sealer for access tokens, and the public URL providers send webhooks to. Built by the
composition root from settings (``runtime.build_banking``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strongbox.banking.providers.base import BankProvider
from strongbox.core.errors import InvalidRequestError
from strongbox.core.sealing import Sealer


@dataclass
class Banking:
    """What the banking use cases need: the providers by name, the vault's sealer, and where
    providers send webhooks (``{public_url}/v1/financial_connections/webhooks/{provider}``)."""

    providers: Mapping[str, BankProvider]
    sealer: Sealer
    public_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def provider(self, name: str) -> BankProvider:
        p = self.providers.get(name)
        if p is None:
            raise InvalidRequestError(
                f"The bank-data provider '{name}' is not configured on this server.",
                param="provider",
                code="provider_not_configured",
            )
        return p

    def webhook_url(self, provider: str) -> str:
        return f"{self.public_url.rstrip('/')}/v1/financial_connections/webhooks/{provider}"

    def close(self) -> None:
        for p in self.providers.values():
            p.close()
