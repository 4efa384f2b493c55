"""Setting a provider up: subscribing Yodlee's event notifications to our receiver.

Yodlee sends events only to URLs subscribed through its ``/configs/notifications/events``
API. ``subscribe_yodlee`` subscribes ``REFRESH``, ``AUTO_REFRESH_UPDATES`` and
``DATA_UPDATES`` to ``{public_url}/v1/financial_connections/webhooks/yodlee?token=…`` (the
token is how the receiver knows the sender: Yodlee signs nothing), creating, moving or
leaving each subscription. ``strongbox bank subscribe-yodlee`` runs it; it is idempotent.
"""

from __future__ import annotations

from urllib.parse import quote

from strongbox.banking.providers.registry import Banking
from strongbox.banking.providers.yodlee import EVENTS, YodleeProvider
from strongbox.core.secret import Secret


class SetupError(Exception):
    """What is missing to subscribe (no Yodlee provider, no webhook token)."""


def yodlee_callback(banking: Banking) -> Secret[str]:
    token = banking.extra.get("yodlee_webhook_token")
    if not isinstance(token, Secret) or not str(token.reveal()):
        raise SetupError(
            "STRONGBOX_YODLEE_WEBHOOK_TOKEN is not set: Yodlee's webhooks would be refused"
        )
    return Secret(f"{banking.webhook_url('yodlee')}?token={quote(str(token.reveal()), safe='')}")


def subscribe_yodlee(banking: Banking, events: tuple[str, ...] = EVENTS) -> dict[str, str]:
    provider = banking.providers.get("yodlee")
    if not isinstance(provider, YodleeProvider):
        raise SetupError("Yodlee is not configured (STRONGBOX_YODLEE_*)")
    return provider.subscribe_events(yodlee_callback(banking), events)
