"""The simulator's settlement report, in Stripe's itemized balance change format (CSV).

One line per captured payment (``reporting_category`` ``charge``, the charge's reference as
``source_id``) and per refund (``refund``, the refund's reference, a negative ``gross``),
for one UTC day. The simulated network's fee is ``fee_bps`` of the gross, rounded half up,
plus ``fee_fixed`` minor units (the ledger's fee rule, so a merchant whose fee schedule
matches sees every line matched). Amounts are in major units, as Stripe's reports give them.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from fastapi import APIRouter, Query
from starlette.responses import Response

from strongbox.connectors.base import OperationKind, OperationStatus
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.core.money import Money

COLUMNS = (
    "balance_transaction_id",
    "created_utc",
    "available_on_utc",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
    "description",
)


def _fee(amount: int, bps: int, fixed: int) -> int:
    return min(amount, (amount * bps + 5000) // 10000 + fixed)


def _major(amount: int, currency: str) -> str:
    return f"{Money(amount, currency).to_decimal():f}"


def settlement_report(
    engine: SimulatorEngine,
    day: date,
    *,
    merchant_id: str | None = None,
    fee_bps: int = 0,
    fee_fixed: int = 0,
) -> str:
    """The report of ``day`` (UTC) as CSV text, oldest line first."""
    rows: list[tuple[datetime, list[str]]] = []

    def wanted(owner: str, at: datetime) -> bool:
        return (merchant_id is None or owner == merchant_id) and at.astimezone(UTC).date() == day

    for c in engine.charges():
        if c.captured_amount <= 0 or not wanted(c.merchant_id, c.created_at):
            continue
        fee = _fee(c.captured_amount, fee_bps, fee_fixed)
        rows.append(
            (
                c.created_at,
                _row(c.reference, c.created_at, c.currency, c.captured_amount, fee, "charge"),
            )
        )
    for op in engine.operations():
        if op.kind is not OperationKind.REFUND or op.status is not OperationStatus.REFUNDED:
            continue
        if op.amount is None or not wanted(op.merchant_id, op.created_at):
            continue
        rows.append(
            (op.created_at, _row(op.reference, op.created_at, op.currency, -op.amount, 0, "refund"))
        )
    rows.sort(key=lambda r: r[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for _at, row in rows:
        writer.writerow(row)
    return out.getvalue()


def _row(ref: str, at: datetime, currency: str, gross: int, fee: int, category: str) -> list[str]:
    stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    cur = currency.lower()
    return [
        f"txn_{ref}",
        stamp,
        stamp,
        cur,
        _major(gross, cur),
        _major(fee, cur),
        _major(gross - fee, cur),
        category,
        ref,
        f"simulator {category}",
    ]


def create_report_router(engine: SimulatorEngine) -> APIRouter:
    """``GET /reports/settlement?date=YYYY-MM-DD[&merchant=…&fee_bps=…&fee_fixed=…]``: the
    day's report as ``text/csv``, as a gateway's dashboard would let one download it."""
    router = APIRouter()

    @router.get("/reports/settlement", response_model=None)
    def settlement(
        date_: str = Query(alias="date"),
        merchant: str | None = None,
        fee_bps: int = Query(default=0, ge=0, le=10_000),
        fee_fixed: int = Query(default=0, ge=0, le=10**9),
    ) -> Response:
        try:
            day = date.fromisoformat(date_)
        except ValueError:
            return Response("date must be YYYY-MM-DD\n", status_code=400, media_type="text/plain")
        text = settlement_report(
            engine, day, merchant_id=merchant, fee_bps=fee_bps, fee_fixed=fee_fixed
        )
        return Response(text, media_type="text/csv")

    return router
