"""Finding PANs in text: Luhn-valid 13-19 digit runs, with or without separators."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from strongbox.compliance.pan import find_pans, has_pan
from strongbox.core.luhn import luhn_valid


def _complete(prefix: str) -> str:
    """``prefix`` plus the check digit that makes it Luhn-valid."""
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


def test_card_numbers_are_found_with_or_without_separators() -> None:
    for text in (
        "4242424242424242",
        "card 4242 4242 4242 4242 here",
        "x4242-4242-4242-4242;",
        '{"note": "378282246310005"}',  # Amex, 15 digits
        "6011111111111117",
    ):
        assert has_pan(text), text


def test_non_pans_are_not_found() -> None:
    for text in (
        "4242424242424241",  # Luhn fails
        "1796681303000",  # a millisecond timestamp (starts with 1)
        "424242424242",  # 12 digits
        "42424242424242424242",  # 20 digits in one run
        "4242  4242 4242 4242",  # a double space breaks the run
        "2026-12-07 22:08:03",
    ):
        assert not has_pan(text), text


def test_a_finding_gives_the_position_never_the_digits() -> None:
    (m,) = find_pans("pan: 4242 4242 4242 4242")
    assert (m.offset, m.digits) == (5, 16)
    assert "4242" not in repr(m)


@given(
    first=st.sampled_from("23456"),
    body=st.text(alphabet="0123456789", min_size=11, max_size=17),
    sep=st.sampled_from(["", " ", "-"]),
    group=st.integers(min_value=1, max_value=6),
    before=st.sampled_from(["", "x", " ", '"', "pan="]),
)
def test_every_luhn_valid_run_is_found_however_it_is_grouped(
    first: str, body: str, sep: str, group: int, before: str
) -> None:
    pan = _complete(first + body)
    grouped = sep.join(pan[i : i + group] for i in range(0, len(pan), group))
    assert [m.digits for m in find_pans(before + grouped + " end")] == [len(pan)]


@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_a_run_that_fails_luhn_is_never_reported(digits: str) -> None:
    if not luhn_valid(digits):
        assert find_pans(digits) == []
