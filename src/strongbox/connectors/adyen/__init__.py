"""Adyen connector: the Checkout API v71 over httpx (JSON, ``X-API-Key``, ``Idempotency-Key``);
outcomes of modifications arrive by webhook (``webhooks.providers.translate_adyen``)."""

from strongbox.connectors.adyen.connector import AdyenConnector, decline_code_for

__all__ = ["AdyenConnector", "decline_code_for"]
