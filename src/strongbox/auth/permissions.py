"""The permission vocabulary shared by every way a caller can be authenticated.

A permission is ``"<resource>:<action>"`` with ``action`` ``read`` or ``write`` (``write``
implies ``read``), modelled on Stripe's restricted-key resources. The same strings are:

- what an operator role grants (roles map onto sets of permissions),
- what a restricted key (``rk_…``) carries per resource (``none`` / ``read`` / ``write``),
- what an OAuth2 access token's ``scope`` claim lists (space-separated permissions),
- what an mTLS service identity is allowed.

``AuthContext.permissions`` is ``None`` for an unrestricted secret key (it may do everything
its merchant may) and a frozenset of these strings otherwise; ``allows`` is the one check.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

Action = Literal["read", "write"]

RESOURCES: Final[tuple[str, ...]] = (
    "account",
    "payment_intents",
    "payment_methods",
    "customers",
    "refunds",
    "charges",
    "disputes",
    "balance",
    "balance_transactions",
    "payouts",
    "events",
    "webhook_endpoints",
    "financial_connections",
    "exchange_rates",
    "reconciliation",
    "connector_accounts",
    "routing",
    "ledger",
    "audit",
    "merchant_origins",
    "risk",
    "compliance",
    "privacy",
    "operators",
    "api_keys",
    "access_grants",
)
"""Every resource a permission can name. A new API surface adds its resource here."""

ACTIONS: Final[tuple[Action, ...]] = ("read", "write")

ALL_PERMISSIONS: Final[frozenset[str]] = frozenset(f"{r}:{a}" for r in RESOURCES for a in ACTIONS)


class UnknownPermissionError(ValueError):
    """A permission string outside the vocabulary (the message names it)."""


def permission(resource: str, action: Action) -> str:
    value = f"{resource}:{action}"
    if value not in ALL_PERMISSIONS:
        raise UnknownPermissionError(f"unknown permission {value!r}")
    return value


def parse(values: Iterable[str]) -> frozenset[str]:
    """Validate permission strings (a scope's items, a role's grants); unknown ones raise."""
    out: set[str] = set()
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if value not in ALL_PERMISSIONS:
            raise UnknownPermissionError(f"unknown permission {value!r}")
        out.add(value)
    return frozenset(out)


def allows(granted: frozenset[str] | None, resource: str, action: Action) -> bool:
    """True when ``granted`` (``None`` = unrestricted) permits ``action`` on ``resource``."""
    if granted is None:
        return True
    if f"{resource}:{action}" in granted:
        return True
    return action == "read" and f"{resource}:write" in granted
