from __future__ import annotations

from fastapi.testclient import TestClient

from strongbox.auth.ratelimit import RateLimiter
from strongbox.core.errors import RateLimitError
from strongbox.runtime import Runtime
from support import Merchant, error_of


def test_over_the_limit_is_a_stripe_shaped_429(
    api: TestClient, runtime: Runtime, new_merchant: object
) -> None:
    runtime.rate_limiter = RateLimiter(3)
    statuses = [api.get("/v1/customers").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    r = api.get("/v1/customers")
    err = error_of(r, 429)
    assert err["code"] == "rate_limit"
    assert int(r.headers["Retry-After"]) >= 1
    # Limits are per key: another merchant's key is unaffected.
    other = new_merchant("Other")  # type: ignore[operator]
    assert isinstance(other, Merchant)
    assert api.get("/v1/customers", headers=other.headers).status_code == 200


def test_a_limited_write_changes_nothing(api: TestClient, runtime: Runtime) -> None:
    runtime.rate_limiter = RateLimiter(1)
    assert api.post("/v1/customers", data={"name": "a"}).status_code == 200
    assert api.post("/v1/customers", data={"name": "b"}).status_code == 429
    runtime.rate_limiter = RateLimiter(0)  # disabled
    names = [c["name"] for c in api.get("/v1/customers").json()["data"]]
    assert names == ["a"]


def test_zero_disables_the_limit(api: TestClient, runtime: Runtime) -> None:
    runtime.rate_limiter = RateLimiter(0)
    assert {api.get("/v1/customers").status_code for _ in range(30)} == {200}


def test_redis_shares_the_window_across_processes() -> None:
    import os
    import uuid

    import pytest

    url = os.environ.get("STRONGBOX_TEST_REDIS_URL")
    if not url:
        if os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1":
            pytest.fail("STRONGBOX_REQUIRE_SERVICES=1 but STRONGBOX_TEST_REDIS_URL is unset")
        pytest.skip("STRONGBOX_TEST_REDIS_URL not set")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        if os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1":
            raise
        pytest.skip(f"Redis unreachable: {exc}")
    # Two limiters stand for two server processes sharing one Redis.
    a, b = RateLimiter(4, url), RateLimiter(4, url)
    key = f"key_{uuid.uuid4().hex}"
    for limiter in (a, b, a, b):
        limiter.check(key)
    with pytest.raises(RateLimitError) as info:
        b.check(key)
    assert info.value.status == 429
