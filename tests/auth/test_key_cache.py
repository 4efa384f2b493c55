"""The key cache carries a restricted key's permissions, allowlist and expiry; the one check
answers for paths and templates alike and costs an unrestricted key nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strongbox.api.route_permissions import enforce, required
from strongbox.auth import service as auth
from strongbox.auth.models import ApiKey
from strongbox.core.errors import AuthenticationError, PermissionDeniedError

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def test_cached_contexts_keep_permissions_and_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    key = ApiKey(id="key_1", merchant_id="acct_1", kind="restricted", livemode=False,
                 key_hash="h", redacted="rk_test_…abcd", created=T0, revoked_at=None,
                 name="n", restrictions={"permissions": ["customers:read"],
                                         "allowed_ips": ["10.0.0.0/8"]},
                 expires_at=T0 + timedelta(hours=1))  # fmt: skip
    opened: list[int] = []

    @contextmanager
    def open_session() -> Iterator[Any]:
        opened.append(1)
        yield None

    monkeypatch.setattr(auth.repository, "find_key_by_hash", lambda s, d: (key, "eur"))
    cache = auth.KeyCache()
    raw = "rk_test_" + "a" * 32
    first = auth.authenticate(open_session, raw, cache, lambda: T0)
    second = auth.authenticate(open_session, raw, cache, lambda: T0)
    assert len(opened) == 1
    assert second == first
    assert first.settlement_currency == "eur"  # the merchant's, cached with the key
    assert second.permissions == frozenset({"customers:read"})
    assert second.allowed_ips == ("10.0.0.0/8",)
    with pytest.raises(AuthenticationError) as info:
        auth.authenticate(open_session, raw, cache, lambda: T0 + timedelta(hours=1))
    assert info.value.code == "api_key_expired"
    assert len(opened) == 1  # refused from the cache, no lookup


def test_required_for_paths_and_templates() -> None:
    assert required("GET", "/v1/balance") == ("balance", "read")
    assert required("GET", "/v1/balance_transactions/txn_1") == ("balance_transactions", "read")
    assert required("POST", "/v1/payment_intents/{intent_id}/capture") == (
        "payment_intents",
        "write",
    )
    assert required("POST", "/v1/payment_intents/pi_1/capture") == ("payment_intents", "write")
    assert required("POST", "/v1/routing/decide") == ("routing", "read")
    assert required("GET", "/v1/nothing_here") is None
    assert required("GET", "/v1/refundsx") is None


def test_enforce() -> None:
    enforce(None, "POST", "/v1/nothing_here")  # unrestricted: no lookup at all
    enforce(frozenset({"refunds:write"}), "GET", "/v1/refunds")
    with pytest.raises(PermissionDeniedError) as info:
        enforce(frozenset({"refunds:read"}), "POST", "/v1/refunds")
    assert info.value.missing == "refunds:write"
    assert info.value.status == 403
    with pytest.raises(PermissionDeniedError):
        enforce(frozenset({"refunds:write"}), "GET", "/v1/nothing_here")
