"""API shapes: Stripe's ``payout`` and its parameters; the payout schedule."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from strongbox.core.clock import to_unix
from strongbox.core.params import (
    Description,
    Expand,
    IdString,
    IntParam,
    ListParams,
    Metadata,
    Params,
)
from strongbox.settlement.models import Payout, PayoutSchedule

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
# An external account: the id of the bank account payouts go to (``ba_…``, or any id the
# operator's payout rail knows); never an account number.
Destination = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


class CreatePayoutParams(Params):
    amount: Annotated[IntParam, Field(ge=1, le=99_999_999_999)]
    currency: Currency
    description: Description | None = None
    metadata: Metadata | None = None
    statement_descriptor: Annotated[str, Field(max_length=22)] | None = None
    method: Literal["standard", "instant"] = "standard"
    destination: Destination | None = None
    expand: Expand = Field(default_factory=list)


class ListPayoutsParams(ListParams):
    status: Literal["pending", "in_transit", "paid", "failed", "canceled"] | None = None
    destination: IdString | None = None


class RetrievePayoutParams(Params):
    expand: Expand = Field(default_factory=list)


class CancelPayoutParams(Params):
    expand: Expand = Field(default_factory=list)


class ScheduleParams(Params):
    interval: Literal["manual", "daily", "weekly"]
    delay_days: Annotated[IntParam, Field(ge=0, le=30)] = 2
    weekly_anchor: Literal[WEEKDAYS] | None = None  # type: ignore[valid-type]
    destination: Destination | None = None


def render_payout(p: Payout, livemode: bool = False) -> dict[str, Any]:
    return {
        "id": p.id,
        "object": "payout",
        "amount": p.amount,
        "arrival_date": to_unix(p.arrival_date),
        "automatic": p.automatic,
        "balance_transaction": None,
        "created": to_unix(p.created),
        "currency": p.currency,
        "description": p.description,
        "destination": p.destination,
        "failure_balance_transaction": None,
        "failure_code": p.failure_code,
        "failure_message": p.failure_message,
        "livemode": livemode,
        "metadata": dict(p.metadata_ or {}),
        "method": p.method,
        "source_type": "card",
        "statement_descriptor": p.statement_descriptor,
        "status": p.status,
        "type": "bank_account",
    }


def render_schedule(s: PayoutSchedule | None) -> dict[str, Any]:
    if s is None:
        return {
            "object": "payout_schedule",
            "interval": "manual",
            "delay_days": 2,
            "weekly_anchor": None,
            "destination": None,
        }
    return {
        "object": "payout_schedule",
        "interval": s.interval,
        "delay_days": s.delay_days,
        "weekly_anchor": WEEKDAYS[s.weekly_anchor] if s.interval == "weekly" else None,
        "destination": s.destination,
    }
