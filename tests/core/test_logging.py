"""Structured JSON logging and the redactor (unit and property tests)."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.core.logging import (
    PAN_MASK,
    REDACTED,
    JsonLogFormatter,
    RedactingFilter,
    TextLogFormatter,
    configure_logging,
    luhn_valid,
    redact,
    redact_value,
    request_id_var,
)

VISA = "4242424242424242"


def _luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"card {VISA} declined", f"card {PAN_MASK} declined"),
        ("card 4242 4242 4242 4242.", f"card {PAN_MASK}."),
        ("card 4242-4242-4242-4242", f"card {PAN_MASK}"),
        ("amex 378282246310005!", f"amex {PAN_MASK}!"),
        ("mc 5555555555554444,", f"mc {PAN_MASK},"),
        ("pan=4000002760003184&x=1", f"pan={PAN_MASK}&x=1"),
        ("fails luhn 4242424242424241", "fails luhn 4242424242424241"),
        ("amount 2000 usd at 1700000000", "amount 2000 usd at 1700000000"),
        ("a 20-digit id 42424242424242424242", "a 20-digit id 42424242424242424242"),
        ("order 12 4242424242424242", f"order 12 {PAN_MASK}"),
        ("cvc=123 and cvc: 9876", f"cvc={REDACTED} and cvc: {REDACTED}"),
        (
            '{"cvc": "314", "card[cvc]": "271"}',
            f'{{"cvc": "{REDACTED}", "card[cvc]": "{REDACTED}"}}',
        ),
        ("card[cvc]=555&cvv2=123", f"card[cvc]={REDACTED}&cvv2={REDACTED}"),
        ("key sk_test_AbC123xyz789 used", f"key sk_test_{REDACTED} used"),
        ("pk_live_Zz0123456789 rk_test_abcdEFGH", f"pk_live_{REDACTED} rk_test_{REDACTED}"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", f"secret whsec_{REDACTED}"),
        ("Authorization: Bearer eyJhbGciOi.J9x_1", f"Authorization: Bearer {REDACTED}"),
        ("Authorization: Basic c2tfdGVzdF94eXo6", f"Authorization: Basic {REDACTED}"),
        ("Basic information about risk", "Basic information about risk"),
        ("disk_usage and work_queue", "disk_usage and work_queue"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_value_masks_sensitive_fields_and_nested_strings() -> None:
    value = {
        "cvc": "123",
        "number": VISA,
        "nested": {"note": f"pan {VISA}", "list": [f"sk_test_{'a' * 20}", 7, None, True]},
        "amount": 2000,
        "empty_secret": "",
    }
    out = redact_value(value)
    assert out["cvc"] == REDACTED
    assert out["number"] == REDACTED
    assert out["nested"]["note"] == f"pan {PAN_MASK}"
    assert out["nested"]["list"] == [f"sk_test_{REDACTED}", 7, None, True]
    assert out["amount"] == 2000
    assert out["empty_secret"] == ""


# ----------------------------------------------------------------------------- properties

_filler = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Nd"], blacklist_characters="-"),
    max_size=30,
)


@st.composite
def pans(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return _luhn_complete(body)


@st.composite
def formatted_pans(draw: st.DrawFn) -> tuple[str, str]:
    pan = draw(pans())
    sep = draw(st.sampled_from(["", " ", "-"]))
    if not sep:
        return pan, pan
    cuts = sorted(draw(st.sets(st.integers(1, len(pan) - 1), max_size=5)))
    parts = [pan[i:j] for i, j in zip([0, *cuts], [*cuts, len(pan)], strict=True)]
    return pan, sep.join(parts)


@settings(max_examples=300, deadline=None)
@given(before=_filler, after=_filler, pan=formatted_pans())
def test_any_luhn_valid_number_in_text_is_masked(
    before: str, after: str, pan: tuple[str, str]
) -> None:
    digits, shown = pan
    out = redact(f"{before} {shown} {after}")
    assert digits not in re.sub(r"[ -]", "", out)  # the filler holds no digits
    assert PAN_MASK in out


@settings(max_examples=300, deadline=None)
@given(
    before=_filler,
    after=_filler,
    number=st.one_of(
        st.integers(min_value=0, max_value=10**12 - 1).map(str),  # amounts, timestamps ...
        st.text(alphabet="0123456789", min_size=13, max_size=19).filter(
            lambda s: not luhn_valid(s)
        ),
        st.text(alphabet="0123456789", min_size=20, max_size=40),  # longer than any PAN
    ),
)
def test_numbers_that_are_not_pans_stay(before: str, after: str, number: str) -> None:
    text = f"{before} {number} {after}"
    assert number in redact(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_redact_is_total_and_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


# ----------------------------------------------------------------------------- formatters


def _record(msg: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("strongbox.test", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_formatter_redacts_message_args_and_extra_fields() -> None:
    token = request_id_var.set("req_abc")
    try:
        line = JsonLogFormatter().format(
            _record(
                "charge with %s and %s",
                VISA,
                "sk_test_123456789abc",
                card={"number": VISA, "cvc": "123"},
                note=f"cvc=999 {VISA}",
                amount=1234,
            )
        )
    finally:
        request_id_var.reset(token)
    data = json.loads(line)
    assert data["request_id"] == "req_abc"
    assert data["level"] == "WARNING"
    assert data["logger"] == "strongbox.test"
    assert VISA not in line
    assert "123456789abc" not in line
    assert "999" not in line
    assert data["card"] == {"number": REDACTED, "cvc": REDACTED}
    assert data["amount"] == 1234
    assert data["message"] == f"charge with {PAN_MASK} and sk_test_{REDACTED}"


def test_json_formatter_redacts_tracebacks() -> None:
    try:
        raise ValueError(f"bad card {VISA}")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    line = JsonLogFormatter().format(record)
    assert VISA not in line
    assert PAN_MASK in json.loads(line)["exc_info"]


def test_text_formatter_and_filter_redact_too() -> None:
    text = TextLogFormatter().format(_record("key %s", "whsec_abcdefgh1234"))
    assert "abcdefgh1234" not in text
    assert "[-]" in text
    record = _record("pan %s", VISA, secret="hunter2", other=f"x {VISA}")
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"pan {PAN_MASK}"
    assert record.secret == REDACTED  # type: ignore[attr-defined]
    assert record.other == f"x {PAN_MASK}"  # type: ignore[attr-defined]


def test_configure_logging_writes_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.setLevel(logging.WARNING)  # as an earlier uvicorn.Config(log_level="warning") does
    try:
        configure_logging("INFO", "json")
        assert uvicorn.propagate
        assert not uvicorn.handlers
        uvicorn.info("started %s", "sk_live_abcdefgh")
        logging.getLogger("strongbox.x").debug("hidden")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [f"started sk_live_{REDACTED}"]
    assert lines[0]["logger"] == "uvicorn.error"
    assert lines[0]["request_id"] is None
