"""Stripe connector: the PaymentIntents API over httpx (form-encoded, ``Idempotency-Key``)."""

from strongbox.connectors.stripe.connector import StripeConnector

__all__ = ["StripeConnector"]
