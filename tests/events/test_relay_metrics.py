"""``strongbox_relay_lag_seconds``: the age of the oldest event the relay has not published."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from settlement.helpers import world
from strongbox.core.settings import Settings
from strongbox.events.relay import relay_once


def _lag() -> float | None:
    return REGISTRY.get_sample_value("strongbox_relay_lag_seconds")


def test_relay_lag_is_the_oldest_unpublished_events_age(settings: Settings) -> None:
    with world(settings) as w:
        w.pay(1_000)
        w.clock.advance(timedelta(seconds=90))
        before = REGISTRY.get_sample_value("strongbox_relay_published_events_total") or 0.0
        assert relay_once(w.rt.db, w.rt.bus, batch=1) == 1
        assert _lag() == 90.0
        assert relay_once(w.rt.db, w.rt.bus, batch=10) == 1
        assert relay_once(w.rt.db, w.rt.bus, batch=10) == 0
        assert _lag() == 0.0
        after = REGISTRY.get_sample_value("strongbox_relay_published_events_total") or 0.0
        assert after - before == 2
