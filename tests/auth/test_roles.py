"""Roles map onto the shared permission vocabulary; elevation and coverage respect
``write`` implies ``read``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.auth import roles
from strongbox.auth.permissions import ALL_PERMISSIONS, allows
from strongbox.auth.restricted_keys import levels_of, parse_levels


def test_every_role_grants_known_permissions() -> None:
    assert set(roles.ROLES) == set(roles.ROLE_PERMISSIONS)
    for role in roles.ROLES:
        assert roles.permissions_of(role) <= ALL_PERMISSIONS, role
        assert roles.permissions_of(role), role


def test_the_roles_table() -> None:
    p = roles.permissions_of
    assert p("owner") == p("administrator") == ALL_PERMISSIONS
    assert not allows(p("developer"), "operators", "read")
    assert allows(p("developer"), "api_keys", "write")
    assert not any(perm.endswith(":write") for perm in p("analyst") | p("view_only"))
    assert not allows(p("analyst"), "api_keys", "read")
    assert allows(p("support"), "refunds", "write")
    assert not allows(p("support"), "payment_intents", "write")
    assert allows(p("auditor"), "audit", "read")
    assert not any(perm.endswith(":write") for perm in p("auditor"))
    assert {r for r in roles.ROLES if allows(p(r), "access_grants", "write")} == {
        "owner",
        "administrator",
    }


def test_elevation() -> None:
    assert roles.is_elevation("support", "administrator")
    assert roles.is_elevation("administrator", "owner")
    assert not roles.is_elevation("developer", "view_only")  # write covers read
    assert not roles.is_elevation("owner", "administrator")
    with pytest.raises(roles.UnknownRoleError):
        roles.is_elevation("support", "root")


@given(st.sampled_from(roles.ROLES), st.sampled_from(roles.ROLES))
def test_a_role_elevates_exactly_when_it_grants_something_more(a: str, b: str) -> None:
    pb = roles.permissions_of(b)
    more = any(not allows(roles.permissions_of(a), *perm.split(":")) for perm in pb)  # type: ignore[arg-type]
    assert roles.is_elevation(a, b) == (more or (b == "owner" and a != "owner"))
    assert not roles.is_elevation(a, a)


@given(st.dictionaries(st.sampled_from(sorted({p.split(":")[0] for p in ALL_PERMISSIONS})),
                       st.sampled_from(["none", "read", "write"])))  # fmt: skip
def test_levels_round_trip(levels: dict[str, str]) -> None:
    granted = parse_levels(levels)
    assert levels_of(granted) == {r: lv for r, lv in levels.items() if lv != "none"}
    for resource, level in levels.items():
        assert allows(granted, resource, "read") == (level != "none")
        assert allows(granted, resource, "write") == (level == "write")
