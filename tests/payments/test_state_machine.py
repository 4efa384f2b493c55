"""payments/state.py: Stripe's PaymentIntent lifecycle as a transition table."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.payments.state import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    Status,
    Trigger,
    can,
    next_status,
)
from support import STRIPE_STATUSES

S = Status
T = Trigger

# Every legal move, written out independently of the table under test.
EXPECTED: dict[tuple[Status, Trigger], Status] = {
    # Attaching a payment method (create/update/confirm with payment_method).
    (S.REQUIRES_PAYMENT_METHOD, T.ATTACH_PAYMENT_METHOD): S.REQUIRES_CONFIRMATION,
    (S.REQUIRES_CONFIRMATION, T.ATTACH_PAYMENT_METHOD): S.REQUIRES_CONFIRMATION,
    (S.REQUIRES_ACTION, T.ATTACH_PAYMENT_METHOD): S.REQUIRES_CONFIRMATION,
    # Unsetting it.
    (S.REQUIRES_PAYMENT_METHOD, T.DETACH_PAYMENT_METHOD): S.REQUIRES_PAYMENT_METHOD,
    (S.REQUIRES_CONFIRMATION, T.DETACH_PAYMENT_METHOD): S.REQUIRES_PAYMENT_METHOD,
    (S.REQUIRES_ACTION, T.DETACH_PAYMENT_METHOD): S.REQUIRES_PAYMENT_METHOD,
    # Confirmation starts processing.
    (S.REQUIRES_PAYMENT_METHOD, T.CONFIRM): S.PROCESSING,
    (S.REQUIRES_CONFIRMATION, T.CONFIRM): S.PROCESSING,
    # Gateway outcomes.
    (S.PROCESSING, T.AUTHORIZED): S.REQUIRES_CAPTURE,
    (S.PROCESSING, T.CAPTURED): S.SUCCEEDED,
    (S.PROCESSING, T.ACTION_REQUIRED): S.REQUIRES_ACTION,
    (S.PROCESSING, T.FAILED): S.REQUIRES_PAYMENT_METHOD,
    # 3DS.
    (S.REQUIRES_ACTION, T.ACTION_COMPLETED): S.PROCESSING,
    (S.REQUIRES_ACTION, T.ACTION_FAILED): S.REQUIRES_PAYMENT_METHOD,
    # Manual capture.
    (S.REQUIRES_CAPTURE, T.CAPTURE): S.SUCCEEDED,
    # Cancel from the four statuses Stripe allows.
    (S.REQUIRES_PAYMENT_METHOD, T.CANCEL): S.CANCELED,
    (S.REQUIRES_CONFIRMATION, T.CANCEL): S.CANCELED,
    (S.REQUIRES_ACTION, T.CANCEL): S.CANCELED,
    (S.REQUIRES_CAPTURE, T.CANCEL): S.CANCELED,
    # Reconciliation of a charge reported after its attempt was resolved as failed.
    (S.REQUIRES_PAYMENT_METHOD, T.LATE_CAPTURED): S.SUCCEEDED,
    (S.REQUIRES_CONFIRMATION, T.LATE_CAPTURED): S.SUCCEEDED,
    (S.REQUIRES_PAYMENT_METHOD, T.LATE_AUTHORIZED): S.REQUIRES_CAPTURE,
    (S.REQUIRES_CONFIRMATION, T.LATE_AUTHORIZED): S.REQUIRES_CAPTURE,
}

ALL_PAIRS = list(itertools.product(Status, Trigger))


def test_statuses_are_exactly_stripes() -> None:
    assert {s.value for s in Status} == STRIPE_STATUSES


def test_terminal_states() -> None:
    assert {S.SUCCEEDED, S.CANCELED} == TERMINAL


def test_table_is_exactly_the_expected_lifecycle() -> None:
    table = {(src, trig): dst for trig, moves in TRANSITIONS.items() for src, dst in moves.items()}
    assert table == EXPECTED
    assert set(TRANSITIONS) == set(Trigger)


@pytest.mark.parametrize(("pair", "expected"), list(EXPECTED.items()), ids=str)
def test_allowed_transition(pair: tuple[Status, Trigger], expected: Status) -> None:
    current, trigger = pair
    assert can(current, trigger)
    assert next_status(current, trigger) is expected


@pytest.mark.parametrize(("current", "trigger"), [p for p in ALL_PAIRS if p not in EXPECTED])
def test_everything_else_raises(current: Status, trigger: Trigger) -> None:
    assert not can(current, trigger)
    with pytest.raises(IllegalTransition) as info:
        next_status(current, trigger)
    assert info.value.current is current
    assert info.value.trigger is trigger
    assert current.value in str(info.value)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_have_no_exits(terminal: Status) -> None:
    for trigger in Trigger:
        assert not can(terminal, trigger)
        with pytest.raises(IllegalTransition):
            next_status(terminal, trigger)


def test_processing_only_leaves_through_a_gateway_outcome() -> None:
    exits = {t for t in Trigger if can(S.PROCESSING, t)}
    assert exits == {T.AUTHORIZED, T.CAPTURED, T.ACTION_REQUIRED, T.FAILED}
    # In particular a processing payment can be neither canceled nor confirmed again.
    assert not can(S.PROCESSING, T.CANCEL)
    assert not can(S.PROCESSING, T.CONFIRM)


def test_succeeded_reachable_only_by_capture() -> None:
    # Every way into succeeded is a capture the gateway reported (a late one included).
    into_succeeded = {t for (_, t), dst in EXPECTED.items() if dst is S.SUCCEEDED}
    assert into_succeeded == {T.CAPTURED, T.CAPTURE, T.LATE_CAPTURED}


def test_every_status_reachable_from_the_start() -> None:
    reached = {S.REQUIRES_PAYMENT_METHOD}
    frontier = [S.REQUIRES_PAYMENT_METHOD]
    while frontier:
        current = frontier.pop()
        for trigger in Trigger:
            if can(current, trigger):
                nxt = next_status(current, trigger)
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
    assert reached == set(Status)


@pytest.mark.parametrize(
    ("current", "trigger", "words"),
    [
        (S.SUCCEEDED, T.CONFIRM, ["confirm", "succeeded", "confirmed"]),
        (S.SUCCEEDED, T.CANCEL, ["cancel", "succeeded", "canceled"]),
        (S.REQUIRES_PAYMENT_METHOD, T.CAPTURE, ["capture", "requires_capture"]),
        (S.CANCELED, T.ATTACH_PAYMENT_METHOD, ["update", "canceled"]),
    ],
)
def test_error_message_is_stripe_worded(
    current: Status, trigger: Trigger, words: list[str]
) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status(current, trigger)
    message = str(info.value)
    assert message.startswith("You cannot ")
    for word in words:
        assert word in message
    # It lists the statuses from which the verb is allowed.
    for allowed in TRANSITIONS[trigger]:
        assert allowed.value in message


@settings(max_examples=300, deadline=None)
@given(
    start=st.sampled_from(list(Status)),
    triggers=st.lists(st.sampled_from(list(Trigger)), max_size=30),
)
def test_random_trigger_sequences_stay_in_the_lifecycle(
    start: Status, triggers: list[Trigger]
) -> None:
    current = start
    for trigger in triggers:
        was_terminal = current in TERMINAL
        try:
            nxt = next_status(current, trigger)
        except IllegalTransition:
            assert not can(current, trigger)
            continue
        assert can(current, trigger)
        assert not was_terminal, f"left terminal state {current} by {trigger}"
        assert isinstance(nxt, Status)
        assert nxt.value in STRIPE_STATUSES
        assert EXPECTED[(current, trigger)] is nxt
        current = nxt
    assert current.value in STRIPE_STATUSES
    if start in TERMINAL:
        assert current is start


@settings(max_examples=200, deadline=None)
@given(triggers=st.lists(st.sampled_from(list(Trigger)), max_size=40))
def test_once_terminal_always_terminal(triggers: list[Trigger]) -> None:
    current = S.REQUIRES_PAYMENT_METHOD
    terminal_at: Status | None = None
    for trigger in triggers:
        if can(current, trigger):
            current = next_status(current, trigger)
        if terminal_at is None and current in TERMINAL:
            terminal_at = current
        if terminal_at is not None:
            assert current is terminal_at
