"""API shapes of reconciliation: request parameters and rendered objects."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from strongbox.core.clock import to_unix
from strongbox.core.params import IdString, IntParam, ListParams, Params
from strongbox.reconciliation.formats import FORMATS
from strongbox.reconciliation.models import (
    EXCEPTION_OUTCOMES,
    ReconException,
    ReconRun,
    ReportImport,
)

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


def render_import(r: ReportImport) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "reconciliation.report_import",
        "connector_account": r.connector_account_id,
        "format": r.format,
        "filename": r.filename,
        "sha256": r.sha256,
        "lines": r.lines,
        "skipped": r.skipped,
        "already_imported": r.already_imported,
        "first_date": r.first_day,
        "last_date": r.last_day,
        "created": to_unix(r.created),
    }


def render_run(run: ReconRun, open_exceptions: int) -> dict[str, Any]:
    return {
        "id": run.id,
        "object": "reconciliation.run",
        "connector_account": run.connector_account_id,
        "date": run.day,
        "status": run.status,
        "failure": run.failure,
        "outcomes": run.summary,
        "open_exceptions": open_exceptions,
        "superseded": run.superseded,
        "created": to_unix(run.created),
    }


def render_exception(e: ReconException) -> dict[str, Any]:
    return {
        "id": e.id,
        "object": "reconciliation.exception",
        "connector_account": e.connector_account_id,
        "date": e.day,
        "outcome": e.outcome,
        "status": e.status,
        "run": e.run_id,
        "strongbox_object": e.object_id,
        "gateway_line": e.gateway_line_id,
        "reference": e.reference,
        "currency": e.currency,
        "gateway_currency": e.gateway_currency,
        "strongbox_amount": e.strongbox_amount,
        "gateway_amount": e.gateway_amount,
        "strongbox_fee": e.strongbox_fee,
        "gateway_fee": e.gateway_fee,
        "resolution": e.resolution,
        "created": to_unix(e.created),
        "updated": to_unix(e.updated),
    }
