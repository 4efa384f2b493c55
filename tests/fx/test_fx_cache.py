"""The rate cache: expiry at the next publication; Redis shared by processes (database 11
of ``STRONGBOX_TEST_REDIS_URL``), in process otherwise."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from fx_helpers import DAY1, ecb_xml

from strongbox.fx import ecb
from strongbox.fx.cache import RateCache, next_publication

REQUIRE = os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1"


def test_next_publication_is_the_next_working_day_at_16_berlin() -> None:
    # Thursday 3 December 2026 (winter: CET, UTC+1) -> Friday 15:00 UTC.
    assert next_publication(date(2026, 12, 3)) == datetime(2026, 12, 4, 15, tzinfo=UTC)
    # Friday -> Monday.
    assert next_publication(date(2026, 12, 4)) == datetime(2026, 12, 7, 15, tzinfo=UTC)
    # Summer time (CEST, UTC+2).
    assert next_publication(date(2026, 7, 1)) == datetime(2026, 7, 2, 14, tzinfo=UTC)


def test_in_process_entries_expire_at_the_next_publication() -> None:
    (rs,) = ecb.parse(ecb_xml(DAY1))
    clock = [datetime(2026, 12, 3, 16, 0, tzinfo=UTC)]
    cache = RateCache(None, now=lambda: clock[0])
    assert cache.get("ecb") is None
    cache.put(rs)
    assert cache.get("ecb") == rs
    clock[0] = datetime(2026, 12, 4, 14, 59, tzinfo=UTC)
    assert cache.get("ecb") == rs
    clock[0] = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert cache.get("ecb") is None


def _redis_url() -> str:
    url = os.environ.get("STRONGBOX_TEST_REDIS_URL")
    if not url:
        if REQUIRE:
            pytest.fail("STRONGBOX_REQUIRE_SERVICES=1 but STRONGBOX_TEST_REDIS_URL is unset")
        pytest.skip("STRONGBOX_TEST_REDIS_URL not set")
    import redis

    url = url.rsplit("/", 1)[0] + "/11" if url.count("/") > 2 else url.rstrip("/") + "/11"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        if REQUIRE:
            raise
        pytest.skip(f"Redis unreachable: {exc}")
    return url


def test_redis_shares_the_rates_and_expires_them_at_the_next_publication() -> None:
    import redis

    url = _redis_url()
    client = redis.Redis.from_url(url)
    client.delete("strongbox:fx:latest:ecb")
    (rs,) = ecb.parse(ecb_xml(DAY1))
    now = datetime.now(UTC)
    # Rates dated yesterday-ish so that the next publication is in the future.
    rs = ecb.RateSet(rs.source, rs.base, (now - timedelta(hours=1)).date(), rs.rates)
    a, b = RateCache(url), RateCache(url)  # two processes
    try:
        assert b.get("ecb") is None
        a.put(rs)
        assert b.get("ecb") == rs
        ttl = client.ttl("strongbox:fx:latest:ecb")
        expected = (next_publication(rs.day) - now).total_seconds()
        assert abs(ttl - expected) < 30
        assert a.shared
    finally:
        client.delete("strongbox:fx:latest:ecb")
        a.close()
        b.close()
        client.close()


def test_redis_down_falls_back_to_the_caller() -> None:
    cache = RateCache("redis://127.0.0.1:1/11")  # nothing listens there
    (rs,) = ecb.parse(ecb_xml(DAY1))
    cache.put(rs)  # logged, not raised
    assert cache.get("ecb") is None
    cache.close()
