"""API parameter shapes of reconciliation."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from strongbox.core.params import IdString, IntParam, ListParams, Params
from strongbox.reconciliation.formats import FORMATS
from strongbox.reconciliation.models import EXCEPTION_OUTCOMES

Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Format = Literal[
    "stripe_itemized",
    "stripe_balance_transactions",
    "adyen_settlement_details",
    "braintree_transactions",
]
assert set(get_args(Format)) == set(FORMATS)
Outcome = Literal[
    "amount_mismatch", "fee_mismatch", "missing_in_strongbox", "missing_at_gateway", "duplicate"
]
assert set(get_args(Outcome)) == set(EXCEPTION_OUTCOMES)


class ImportParams(Params):
    connector_account: IdString
    format: Format | None = None
    filename: Annotated[str, Field(max_length=255)] | None = None


class CreateRunParams(Params):
    connector_account: IdString
    date: Day
    window_days: Annotated[IntParam, Field(ge=0, le=7)] = 2


class ListRunsParams(ListParams):
    connector_account: IdString | None = None
    date: Day | None = None


class ListExceptionsParams(ListParams):
    status: Literal["open", "resolved", "cleared"] | None = None
    outcome: Outcome | None = None
    connector_account: IdString | None = None
    date: Day | None = None


class ResolveParams(Params):
    action: Literal["accept_gateway", "timing", "write_off"]
    note: Annotated[str, Field(max_length=500)] | None = None
