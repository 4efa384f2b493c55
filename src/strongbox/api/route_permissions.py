"""The permission every API route requires: the one table, and the one check.

Each ``/v1/`` route declares its resource here by path prefix (the longest prefix that ends
at a path segment wins); the action is ``read`` for GET/HEAD and ``write`` otherwise, unless
``ACTION_OVERRIDES`` says otherwise for a (method, route template). ``required`` answers for
a concrete path or a route template alike. ``tests/security/test_route_permissions.py``
walks ``app.routes`` and fails for any authenticated route this table does not cover.

``enforce`` is the single enforcement point: ``api.context.authenticate`` (every API-key and
token route) and ``api.operator_context`` (operator session routes) call it. An unrestricted
secret key (``permissions is None``) returns at the first comparison: no lookup, no
statement on the payment path.
"""

from __future__ import annotations

import re
from typing import Final

from strongbox.auth.permissions import Action, allows
from strongbox.core.errors import PermissionDeniedError

ROUTE_RESOURCES: Final[dict[str, str]] = {
    "/v1/payment_intents": "payment_intents",
    "/v1/refunds": "refunds",
    "/v1/customers": "customers",
    "/v1/payment_methods": "payment_methods",
    "/v1/events": "events",
    "/v1/audit": "audit",
    "/v1/balance": "balance",
    "/v1/balance_transactions": "balance_transactions",
    "/v1/ledger": "ledger",
    "/v1/merchant_origins": "merchant_origins",
    "/v1/webhook_endpoints": "webhook_endpoints",
    "/v1/webhooks/inbound_accounts": "webhook_endpoints",
    "/v1/webhooks/inbound_events": "webhook_endpoints",
    "/v1/connector_accounts": "connector_accounts",
    "/v1/routing": "routing",
    "/v1/reconciliation": "reconciliation",
    "/v1/exchange_rates": "exchange_rates",
    "/v1/financial_connections": "financial_connections",
    "/v1/api_keys": "api_keys",  # pragma: allowlist secret
    "/v1/oauth_clients": "api_keys",  # registering a client hands out credentials
    "/v1/payouts": "payouts",
    "/v1/payout_schedule": "payouts",
    "/v1/account": "account",
    "/v1/privacy": "privacy",
    "/v1/compliance": "compliance",
    # operator session routes (api/routers/operator_*.py)
    "/operator/access_grants": "access_grants",
    "/operator/operators": "operators",
}

SELF_SERVICE: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        # any signed-in operator, about themselves: ask for more, list their own grants
        ("GET", "/operator/access_grants"),
        ("POST", "/operator/access_grants"),
        ("POST", "/operator/access_grants/break_glass"),
    }
)
"""Operator routes open to every signed-in operator (the route narrows what it shows); the
sign-in and factor routes (``/operator/login…``, ``/operator/factors…``, ``/operator/session``,
``/operator/logout``, ``/operator/invitations…``) are the operator's own and name no
resource either (``is_self_service``)."""
_SELF_PREFIXES: Final = (
    "/operator/login",
    "/operator/logout",
    "/operator/session",
    "/operator/factors",
    "/operator/invitations",
    "/operator/second_factor",
)


def is_self_service(method: str, path: str) -> bool:
    if (method, path) in SELF_SERVICE:
        return True
    return any(path == p or path.startswith(p + "/") for p in _SELF_PREFIXES)


ACTION_OVERRIDES: Final[dict[tuple[str, str], Action]] = {
    # asks which connectors a payment would use: decides, stores nothing
    ("POST", "/v1/routing/decide"): "read",
}
_OVERRIDES: Final = [
    (method, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"), action)
    for (method, template), action in ACTION_OVERRIDES.items()
]


def required(method: str, path: str) -> tuple[str, Action] | None:
    """``(resource, action)`` a request needs, or None when no route declares one."""
    resource = None
    best = -1
    for prefix, name in ROUTE_RESOURCES.items():
        if len(prefix) > best and (path == prefix or path.startswith(prefix + "/")):
            resource, best = name, len(prefix)
    if resource is None:
        return None
    for m, regex, action in _OVERRIDES:
        if m == method and regex.match(path):
            return resource, action
    return resource, "read" if method in ("GET", "HEAD") else "write"


def enforce(granted: frozenset[str] | None, method: str, path: str, who: str = "key") -> None:
    """Raise ``PermissionDeniedError`` (403, names the permission) unless ``granted`` allows
    the route; a route without a declared permission is refused to every restricted caller."""
    if granted is None:
        return
    need = required(method, path)
    if need is None:
        raise PermissionDeniedError("undeclared", who)
    resource, action = need
    if not allows(granted, resource, action):
        raise PermissionDeniedError(f"{resource}:{action}", who)
