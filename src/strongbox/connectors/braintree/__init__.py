"""Braintree connector: the official ``braintree`` SDK (sale, submit for settlement, void,
refund, find, search)."""

from strongbox.connectors.braintree.connector import BraintreeConnector
from strongbox.connectors.braintree.mapping import parse_environment

__all__ = ["BraintreeConnector", "parse_environment"]
