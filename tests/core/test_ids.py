"""core/ids: prefixed ids of 24 base62 characters from the CSPRNG, without modulo bias."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.core import ids

BASE62 = set(string.ascii_letters + string.digits)


@given(st.integers(min_value=1, max_value=200))
def test_a_token_has_the_length_asked_for_in_base62(length: int) -> None:
    token = ids.random_token(length)
    assert len(token) == length
    assert set(token) <= BASE62


def test_new_id_and_new_ids_carry_the_kind_prefix() -> None:
    one = ids.new_id("payment_intent")
    many = ids.new_ids("attempt", 5)
    assert one.startswith("pi_")
    assert len(one) == 3 + 24
    assert all(i.startswith("pa_") and len(i) == 27 for i in many)
    assert ids.has_prefix(one, "payment_intent")
    assert len(set(many)) == 5


def test_bytes_that_would_bias_the_digits_are_dropped_and_made_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the first read is all "biased" bytes (248..255): none may show up as digits, and the
    # token is completed from further reads
    reads: Iterator[bytes] = iter([bytes([250]) * 32, bytes(range(10)) * 4])
    monkeypatch.setattr(ids.secrets, "token_bytes", lambda n: next(reads)[:n])
    token = ids.random_token(24)
    assert token == "".join(string.ascii_letters[i] for i in range(10)) * 2 + "abcd"


def test_digits_are_spread_evenly() -> None:
    # 62 digits, 124,000 draws: each expected 2,000 times; chi-square with 61 degrees of
    # freedom has mean 61 and stays below 150 but once in ~10⁹ runs; taking byte % 62 (the
    # bias dropped here) would give eight digits ~2,420 draws each and a statistic near 900
    counts = Counter("".join(ids.random_token(24) for _ in range(124_000 // 24 + 1))[:124_000])
    expected = 124_000 / 62
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in BASE62)
    assert len(counts) == 62
    assert chi2 < 150
