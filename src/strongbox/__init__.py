"""Strongbox: a self-hosted, Stripe-compatible payments platform."""

__version__ = "0.1.0"
