"""Password rules and hashing; TOTP verification and replay refusal (unit level)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.auth import passwords, totp
from strongbox.core.secret import Secret

GOOD = "violet lantern orbit 7 sea"  # pragma: allowlist secret


def test_length_and_common_lists() -> None:
    passwords.check_strength(Secret(GOOD))
    for weak in ["elevenchars", "password1234", "Password123!", "P@ssw0rd2024!!", "qwertyuiop",
                 "123456789012", "zzzzzzzzzzzzzzzz", "abababababab", "!!Sunshine!!99"]:  # fmt: skip
        with pytest.raises(passwords.WeakPasswordError) as info:
            passwords.check_strength(Secret(weak))
        assert weak not in info.value.message
    with pytest.raises(passwords.WeakPasswordError):
        passwords.check_strength(Secret("alice.smith@example.com"), email="alice.smith@example.com")
    with pytest.raises(passwords.WeakPasswordError):
        passwords.check_strength(Secret("x" * 257 + "yz"))


def test_argon2id_hashes_verify_and_differ() -> None:
    a = passwords.hash_password(Secret(GOOD))
    b = passwords.hash_password(Secret(GOOD))
    assert a.startswith("$argon2id$")
    assert a != b
    assert passwords.verify_password(a, Secret(GOOD))
    assert not passwords.verify_password(a, Secret(GOOD + "!"))
    assert not passwords.verify_password("not a hash", Secret(GOOD))
    assert not passwords.verify_password(None, Secret(GOOD))


NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


def test_totp_accepts_drift_and_refuses_replays() -> None:
    seed = totp.new_seed()
    step = totp.step_of(NOW)
    assert totp.verify(seed, totp.code_at(seed, step), None, NOW) == step
    assert totp.verify(seed, totp.code_at(seed, step), step, NOW) is None  # replay
    assert totp.verify(seed, totp.code_at(seed, step - 1), step, NOW) is None  # older
    assert totp.verify(seed, totp.code_at(seed, step + 1), step, NOW) == step + 1  # drift
    assert totp.verify(seed, totp.code_at(seed, step - 2), None, NOW) is None  # too old
    assert totp.verify(seed, "12345", None, NOW) is None
    assert totp.verify(seed, "abcdef", None, NOW) is None
    uri = totp.provisioning_uri(seed, "a@example.com")
    assert uri.reveal().startswith("otpauth://totp/Strongbox:a%40example.com?")
    assert "**" in repr(uri)
    assert seed.reveal() not in repr(uri)
    assert totp.qr_svg(uri).reveal().startswith("data:image/svg+xml")


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=-5, max_value=5))
def test_a_code_is_accepted_at_most_once(offset: int, shift: int) -> None:
    """Whatever codes arrive, no step is accepted twice and steps only move forward."""
    seed = Secret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")  # pragma: allowlist secret
    now = NOW + timedelta(seconds=offset)
    last: int | None = None
    accepted: list[int] = []
    for delta in (shift, shift, 0, -1, 1, 0):
        code = totp.code_at(seed, totp.step_of(now) + delta)
        step = totp.verify(seed, code, last, now)
        if step is not None:
            assert last is None or step > last
            accepted.append(step)
            last = step
    assert len(accepted) == len(set(accepted))
