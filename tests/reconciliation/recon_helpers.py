"""Helpers for the reconciliation tests: payments through a simulator connector account, the
simulator's own settlement report, and edits of report files in Stripe's itemized format."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from strongbox.connectors.simulator.report import settlement_report
from strongbox.runtime import Runtime


def simulator_account(api: TestClient) -> str:
    r = api.post("/v1/connector_accounts", data={"connector": "simulator", "label": "sim"})
    assert r.status_code == 200, r.text
    acct: str = r.json()["id"]
    r = api.post("/v1/routing", json={"default": {"connectors": [acct]}})
    assert r.status_code == 200, r.text
    return acct


def pay(api: TestClient, amount: int, currency: str = "usd") -> dict[str, Any]:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": str(amount),
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "succeeded", body
    return body


def refund(api: TestClient, pi: str, amount: int) -> dict[str, Any]:
    r = api.post("/v1/refunds", data={"payment_intent": pi, "amount": str(amount)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "succeeded", body
    return body


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def report(rt: Runtime, merchant_id: str, *, fee_bps: int = 0, fee_fixed: int = 0) -> str:
    assert rt.simulator is not None
    return settlement_report(
        rt.simulator,
        datetime.now(UTC).date(),
        merchant_id=merchant_id,
        fee_bps=fee_bps,
        fee_fixed=fee_fixed,
    )


def rows_of(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def csv_of(header: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def upload(api: TestClient, account: str, text: str, **query: str) -> Any:
    return api.post(
        "/v1/reconciliation/report_imports",
        params={"connector_account": account, **query},
        content=text.encode(),
        headers={"Content-Type": "text/csv"},
    )


def run(api: TestClient, account: str, day: str, **extra: str) -> dict[str, Any]:
    r = api.post(
        "/v1/reconciliation/runs", data={"connector_account": account, "date": day, **extra}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def exceptions(api: TestClient, **query: str) -> list[dict[str, Any]]:
    r = api.get("/v1/reconciliation/exceptions", params={"limit": "100", **query})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def counts(run_body: dict[str, Any]) -> dict[str, int]:
    return {k: v["count"] for k, v in run_body["outcomes"].items() if v["count"]}
