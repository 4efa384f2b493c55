"""Operator roles and the permissions each grants, modelled on Stripe's team roles.

=============  ============================================================================
owner          everything, including operators, roles and grants
administrator  everything, including operators, roles and grants (not the owner's role)
developer      the API and its integration: payments, keys, webhooks, connectors, routing
analyst        reads every business resource; changes nothing
support        reads payments and customers; refunds, disputes and customer changes
view_only      reads payments, customers and balances; changes nothing
auditor        reads the audit log, ledger, reconciliation, events, operators, keys, grants
=============  ============================================================================

Who may approve a just-in-time request: a role with ``access_grants:write``.
"""

from __future__ import annotations

from typing import Final

from strongbox.auth.permissions import ALL_PERMISSIONS, RESOURCES, allows

ROLES: Final[tuple[str, ...]] = (
    "owner",
    "administrator",
    "developer",
    "analyst",
    "support",
    "view_only",
    "auditor",
)

_TEAM: Final = ("operators", "access_grants")
_BUSINESS: Final = tuple(r for r in RESOURCES if r not in (*_TEAM, "api_keys", "audit"))
_PAYMENTS: Final = (
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
)


def _reads(resources: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f"{r}:read" for r in resources)


def _writes(resources: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f"{r}:write" for r in resources)


ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "owner": ALL_PERMISSIONS,
    "administrator": ALL_PERMISSIONS,
    "developer": _writes(_BUSINESS) | _writes(("api_keys",)) | _reads(("audit",)),
    "analyst": _reads(_BUSINESS),
    "support": _reads(_PAYMENTS) | _writes(("refunds", "disputes", "customers")),
    "view_only": _reads(_PAYMENTS),
    "auditor": _reads(
        (
            "audit",
            "ledger",
            "reconciliation",
            "events",
            "balance",
            "balance_transactions",
            "operators",
            "api_keys",
            "access_grants",
            "compliance",
        )
    ),
}

# Roles an administrator may hand out; only an owner makes another owner.
OWNER_ONLY: Final = frozenset({"owner"})


class UnknownRoleError(ValueError):
    pass


def check_role(role: str) -> str:
    if role not in ROLE_PERMISSIONS:
        raise UnknownRoleError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return role


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS[check_role(role)]


def missing(granted: frozenset[str], wanted: frozenset[str]) -> list[str]:
    """The permissions of ``wanted`` that ``granted`` does not allow (``write`` implies
    ``read``), sorted."""
    out = []
    for perm in sorted(wanted):
        resource, action = perm.split(":")
        if not allows(granted, resource, "write" if action == "write" else "read"):
            out.append(perm)
    return out


def is_elevation(current: str, requested: str) -> bool:
    """True when ``requested`` grants something ``current`` does not (the owner role is
    above every other: only an owner hands out the owner role)."""
    if requested in OWNER_ONLY and current not in OWNER_ONLY:
        return True
    return bool(missing(permissions_of(current), permissions_of(requested)))
