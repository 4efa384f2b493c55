"""The window rules, without a database (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from strongbox.settlement.windows import place, transfer_ids, window_start

times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
lengths = st.sampled_from([1, 60, 300, 3600])


@given(times, lengths)
def test_a_time_falls_in_exactly_one_window(t: datetime, length: int) -> None:
    start = window_start(t, length)
    assert start <= t < start + timedelta(seconds=length)
    assert int(start.timestamp()) % length == 0
    assert window_start(start, length) == start


@given(times, st.integers(min_value=0, max_value=10_000), lengths)
def test_an_event_never_lands_in_a_window_that_has_ended(
    event_time: datetime, delay: int, length: int
) -> None:
    now = event_time + timedelta(seconds=delay)
    p = place(event_time, now, length)
    end = p.start + timedelta(seconds=length)
    assert end > now  # grace zero: never a window whose end has passed
    if not p.late:
        assert p.start == window_start(event_time, length)
    else:
        assert p.start == window_start(now, length)
        assert window_start(event_time, length) + timedelta(seconds=length) <= now


def test_money_events_name_the_ledger_transfers_they_follow() -> None:
    pi = {"type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}
    # the conversion legs of a payment settled in another currency (ledger/conversion.py)
    assert transfer_ids(pi) == ["sb.pi_1.capture", "sb.pi_1.conversion", "sb.pi_1.fee"]
    ok = {"type": "refund.updated", "data": {"object": {"id": "re_1", "status": "succeeded"}}}
    assert transfer_ids(ok) == ["sb.re_1.refund.post", "sb.re_1.refund.conversion.post"]
    pending = {"type": "refund.updated", "data": {"object": {"id": "re_1", "status": "pending"}}}
    assert transfer_ids(pending) == []
