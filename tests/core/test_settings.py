"""Settings refused at start: recovery may never begin before the longest gateway call ends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from strongbox.core.settings import Settings, longest_gateway_call_seconds


def test_the_defaults_leave_recovery_after_the_longest_call() -> None:
    s = Settings()
    # 3 tries x (3 s connect + 10 s read) + 2 back-offs of at most 1 s
    assert longest_gateway_call_seconds(s) == 41
    assert s.recovery_after_seconds > 41


def test_a_recovery_age_inside_a_gateway_call_is_refused_with_the_arithmetic() -> None:
    with pytest.raises(ValidationError) as err:
        Settings(recovery_after_seconds=30)
    message = str(err.value)
    assert "STRONGBOX_RECOVERY_AFTER_SECONDS=30" in message
    assert "3 tries x (3 s connect + 10 s read) + back-off = 41 s" in message
    assert "at least 42" in message


@given(
    retries=st.integers(min_value=0, max_value=10),
    read=st.floats(min_value=0.1, max_value=120),
    connect=st.floats(min_value=0.1, max_value=60),
    after=st.integers(min_value=1, max_value=5000),
)
def test_accepted_exactly_when_recovery_starts_after_every_possible_call(
    retries: int, read: float, connect: float, after: int
) -> None:
    longest = (retries + 1) * (connect + read) + retries * 1.0
    kwargs = {
        "gateway_retries": retries,
        "gateway_timeout_seconds": read,
        "gateway_connect_timeout_seconds": connect,
        "recovery_after_seconds": after,
    }
    if after > longest:
        assert longest_gateway_call_seconds(Settings(**kwargs)) == pytest.approx(longest)
    else:
        with pytest.raises(ValidationError):
            Settings(**kwargs)
