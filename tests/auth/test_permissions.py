from __future__ import annotations

import pytest

from strongbox.auth import permissions as perms


def test_unrestricted_allows_everything() -> None:
    assert perms.allows(None, "refunds", "write")


def test_write_implies_read_but_not_the_reverse() -> None:
    granted = perms.parse(["refunds:write", "customers:read"])
    assert perms.allows(granted, "refunds", "read")
    assert perms.allows(granted, "customers", "read")
    assert not perms.allows(granted, "customers", "write")
    assert not perms.allows(granted, "payment_intents", "read")


def test_unknown_permissions_are_refused() -> None:
    with pytest.raises(perms.UnknownPermissionError, match="nope:read"):
        perms.parse(["nope:read"])
    with pytest.raises(perms.UnknownPermissionError):
        perms.permission("refunds", "delete")  # type: ignore[arg-type]
    assert perms.parse([" refunds:read ", ""]) == frozenset({"refunds:read"})
