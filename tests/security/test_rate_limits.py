"""Per-address rate limits (every request, before routing) next to the per-key limits.

Limits in these tests count per minute (``window_seconds=60``) so that a slow, loaded machine
cannot let the window slide between requests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth.ratelimit import RateLimiter, address_limiter
from strongbox.core.errors import RateLimitError
from strongbox.runtime import Runtime
from support import Merchant, error_of, make_merchant


def _client(runtime: Runtime, address: str) -> TestClient:
    return TestClient(
        create_app(runtime, run_workers=False),
        client=(address, 4000),
        raise_server_exceptions=False,
    )


def test_per_address_limit_is_a_429_with_retry_after(
    runtime: Runtime, merchant: Merchant, snapshot: Callable[[], Any]
) -> None:
    runtime.address_limiter = address_limiter(3, window_seconds=60)
    runtime.rate_limiter = RateLimiter(0)
    b = make_merchant(runtime, "B")
    a_client = _client(runtime, "198.51.100.1")
    statuses = [
        a_client.get("/v1/customers", headers=merchant.headers).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 200]
    before = snapshot()
    # Over the limit: whatever the key (another merchant's, none at all) and whatever the route.
    for headers in (merchant.headers, b.headers, {}):
        r = a_client.post("/v1/customers", data={"name": "x"}, headers=headers)
        err = error_of(r, 429)
        assert err["code"] == "rate_limit"
        assert "address" in err["message"]
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["Request-Id"].startswith("req_")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert snapshot() == before
    # Another address is not affected, and health checks are never limited.
    other = _client(runtime, "198.51.100.2")
    assert other.get("/v1/customers", headers=merchant.headers).status_code == 200
    assert a_client.get("/healthz").status_code == 200


def test_unauthenticated_key_guessing_is_limited(runtime: Runtime) -> None:
    runtime.address_limiter = address_limiter(5, window_seconds=60)
    c = _client(runtime, "203.0.113.9")
    codes = [
        c.get(
            "/v1/customers", headers={"Authorization": f"Bearer sk_test_guess{i:030d}"}
        ).status_code
        for i in range(8)
    ]
    assert codes == [401] * 5 + [429] * 3


def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    runtime: Runtime, merchant: Merchant
) -> None:
    runtime.address_limiter = address_limiter(2, window_seconds=60)
    runtime.settings = runtime.settings.model_copy(update={"trusted_proxies": "10.0.0.1"})
    proxy = _client(runtime, "10.0.0.1")
    for client_ip in ("192.0.2.1", "192.0.2.2"):
        hdrs = {**merchant.headers, "X-Forwarded-For": f"{client_ip}, 10.0.0.1"}
        assert [proxy.get("/v1/customers", headers=hdrs).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
    # An untrusted peer cannot pick its address with the header: one bucket, its own.
    direct = _client(runtime, "192.0.2.50")
    codes = [
        direct.get(
            "/v1/customers", headers={**merchant.headers, "X-Forwarded-For": f"198.18.0.{i}"}
        ).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]


def test_limits_come_from_settings(runtime: Runtime) -> None:
    from strongbox.runtime import build_runtime

    settings = runtime.settings.model_copy(
        update={"rate_limit_per_address_per_second": 7, "rate_limit_per_second": 9}
    )
    rt = build_runtime(settings, migrate=False)
    try:
        assert rt.address_limiter.per_second == 7
        assert rt.rate_limiter.per_second == 9
    finally:
        rt.close()


def test_zero_disables_the_address_limit(runtime: Runtime, merchant: Merchant) -> None:
    runtime.address_limiter = address_limiter(0)
    c = _client(runtime, "198.51.100.77")
    assert {c.get("/v1/customers", headers=merchant.headers).status_code for _ in range(25)} == {
        200
    }


def test_redis_shares_the_address_window() -> None:
    url = os.environ.get("STRONGBOX_TEST_REDIS_URL")
    if not url:
        if os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1":
            pytest.fail("STRONGBOX_REQUIRE_SERVICES=1 but STRONGBOX_TEST_REDIS_URL is unset")
        pytest.skip("STRONGBOX_TEST_REDIS_URL not set")
    a, b = address_limiter(3, url, window_seconds=60), address_limiter(3, url, window_seconds=60)
    assert a.shared
    assert b.shared
    addr = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}"
    for limiter in (a, b, a):
        limiter.check(addr)
    with pytest.raises(RateLimitError):
        b.check(addr)
    # The per-key namespace is separate: the same string as a key id is not limited.
    RateLimiter(3, url).check(addr)
