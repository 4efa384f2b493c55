"""The simulator's own settlement report (Stripe's itemized CSV), in process and over its
HTTP API, read back by the reconciliation's parser."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from reconciliation.recon_helpers import pay, refund, simulator_account
from strongbox.connectors.simulator.http import create_app
from strongbox.connectors.simulator.report import settlement_report
from strongbox.reconciliation import formats
from strongbox.runtime import Runtime
from support import Merchant


def test_the_report_lists_captures_and_refunds_of_the_day(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    simulator_account(api)
    pi = pay(api, 1999)
    refund(api, pi["id"], 999)
    assert runtime.simulator is not None
    today = datetime.now(UTC).date()
    text = settlement_report(runtime.simulator, today, fee_bps=100, fee_fixed=5)
    parsed = formats.parse(text)
    assert parsed.format == "stripe_itemized"
    assert [(ln.kind, ln.amount, ln.fee) for ln in parsed.lines] == [
        ("charge", 1999, 25),
        ("refund", -999, 0),
    ]
    with TestClient(create_app(runtime.simulator)) as sim:
        r = sim.get("/reports/settlement", params={"date": today.isoformat(), "fee_bps": "100",
                                                   "fee_fixed": "5"})  # fmt: skip
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert r.text == text
        assert sim.get("/reports/settlement", params={"date": "yesterday"}).status_code == 400
        other = sim.get(
            "/reports/settlement", params={"date": today.isoformat(), "merchant": "acct_none"}
        )
        assert formats.parse(other.text).lines == []
