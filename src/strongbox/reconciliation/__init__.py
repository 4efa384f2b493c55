"""Reconciliation: gateway reports imported, matched against the ledger, resolved through it."""
