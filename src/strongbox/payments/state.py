"""PaymentIntent lifecycle, exactly as Stripe's, as a pure transition table.

    requires_payment_method ─attach─▶ requires_confirmation ─confirm─▶ processing
    processing ─authorized─▶ requires_capture ─capture─▶ succeeded
    processing ─captured─▶ succeeded
    processing ─action_required─▶ requires_action ─action_completed─▶ processing
    processing ─failed─▶ requires_payment_method      (a failed attempt returns here)
    requires_action ─action_failed─▶ requires_payment_method
    {requires_payment_method, requires_confirmation, requires_action, requires_capture}
        ─cancel─▶ canceled

Reconciliation only (``payments/late.py``), never an API verb: a charge the gateway reports
after its attempt was resolved as failed, on an intent still waiting for a payment method:

    {requires_payment_method, requires_confirmation} ─late_captured─▶ succeeded
    {requires_payment_method, requires_confirmation} ─late_authorized─▶ requires_capture

``succeeded`` and ``canceled`` are terminal.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"


class Trigger(enum.StrEnum):
    ATTACH_PAYMENT_METHOD = "attach_payment_method"
    DETACH_PAYMENT_METHOD = "detach_payment_method"
    CONFIRM = "confirm"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    ACTION_REQUIRED = "action_required"
    ACTION_COMPLETED = "action_completed"
    ACTION_FAILED = "action_failed"
    FAILED = "failed"
    CAPTURE = "capture"
    CANCEL = "cancel"
    LATE_CAPTURED = "late_captured"
    LATE_AUTHORIZED = "late_authorized"


S = Status
T = Trigger

TRANSITIONS: dict[Trigger, dict[Status, Status]] = {
    T.ATTACH_PAYMENT_METHOD: {
        S.REQUIRES_PAYMENT_METHOD: S.REQUIRES_CONFIRMATION,
        S.REQUIRES_CONFIRMATION: S.REQUIRES_CONFIRMATION,
        S.REQUIRES_ACTION: S.REQUIRES_CONFIRMATION,
    },
    T.DETACH_PAYMENT_METHOD: {
        S.REQUIRES_PAYMENT_METHOD: S.REQUIRES_PAYMENT_METHOD,
        S.REQUIRES_CONFIRMATION: S.REQUIRES_PAYMENT_METHOD,
        S.REQUIRES_ACTION: S.REQUIRES_PAYMENT_METHOD,
    },
    T.CONFIRM: {
        S.REQUIRES_PAYMENT_METHOD: S.PROCESSING,
        S.REQUIRES_CONFIRMATION: S.PROCESSING,
    },
    T.AUTHORIZED: {S.PROCESSING: S.REQUIRES_CAPTURE},
    T.CAPTURED: {S.PROCESSING: S.SUCCEEDED},
    T.ACTION_REQUIRED: {S.PROCESSING: S.REQUIRES_ACTION},
    T.ACTION_COMPLETED: {S.REQUIRES_ACTION: S.PROCESSING},
    T.ACTION_FAILED: {S.REQUIRES_ACTION: S.REQUIRES_PAYMENT_METHOD},
    T.FAILED: {S.PROCESSING: S.REQUIRES_PAYMENT_METHOD},
    T.CAPTURE: {S.REQUIRES_CAPTURE: S.SUCCEEDED},
    T.LATE_CAPTURED: {
        S.REQUIRES_PAYMENT_METHOD: S.SUCCEEDED,
        S.REQUIRES_CONFIRMATION: S.SUCCEEDED,
    },
    T.LATE_AUTHORIZED: {
        S.REQUIRES_PAYMENT_METHOD: S.REQUIRES_CAPTURE,
        S.REQUIRES_CONFIRMATION: S.REQUIRES_CAPTURE,
    },
    T.CANCEL: {
        S.REQUIRES_PAYMENT_METHOD: S.CANCELED,
        S.REQUIRES_CONFIRMATION: S.CANCELED,
        S.REQUIRES_ACTION: S.CANCELED,
        S.REQUIRES_CAPTURE: S.CANCELED,
    },
}

TERMINAL = frozenset({S.SUCCEEDED, S.CANCELED})

# What the API verb is called in error messages.
_VERB = {
    T.CONFIRM: "confirm",
    T.CAPTURE: "capture",
    T.CANCEL: "cancel",
    T.ATTACH_PAYMENT_METHOD: "update",
    T.DETACH_PAYMENT_METHOD: "update",
}


class IllegalTransition(Exception):
    def __init__(self, current: Status, trigger: Trigger) -> None:
        self.current = current
        self.trigger = trigger
        verb = _VERB.get(trigger, trigger.value)
        allowed = sorted(s.value for s in TRANSITIONS[trigger])
        super().__init__(
            f"You cannot {verb} this PaymentIntent because it has a status of {current.value}. "
            f"Only a PaymentIntent with one of the following statuses may be {_past(verb)}: "
            f"{', '.join(allowed)}."
        )


def _past(verb: str) -> str:
    return {"confirm": "confirmed", "capture": "captured", "cancel": "canceled"}.get(
        verb, verb + "d"
    )


def can(current: Status, trigger: Trigger) -> bool:
    return current in TRANSITIONS[trigger]


def next_status(current: Status, trigger: Trigger) -> Status:
    """The status after ``trigger``; raises ``IllegalTransition`` if Stripe would refuse it."""
    try:
        return TRANSITIONS[trigger][current]
    except KeyError:
        raise IllegalTransition(current, trigger) from None
