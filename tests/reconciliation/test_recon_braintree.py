"""Braintree end to end: payments through the Braintree connector (official SDK) against the
local Braintree fake, then Braintree's transaction search result for them, in Braintree's
XML (written with the SDK's own generator), imported over HTTP and matched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from braintree.util.generator import Generator
from fastapi.testclient import TestClient
from recon_helpers import counts, exceptions, pay, refund, run, today, upload

from connectors.fakes.braintree_fake import BraintreeFake, _dashed
from strongbox.connectors.braintree import BraintreeConnector
from strongbox.connectors.simulator import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.errors import InvalidRequestError
from strongbox.reconciliation import formats
from strongbox.reconciliation.tasks import FetchPolicy, reconcile_from_gateway
from strongbox.runtime import Runtime
from support import Merchant


@pytest.fixture(scope="module")
def braintree_server() -> Iterator[tuple[BraintreeFake, BackgroundServer]]:
    engine = SimulatorEngine()
    fake = BraintreeFake(engine, "bt_merchant", "bt_public", "bt_private_key_value")
    with BackgroundServer(engine, app=fake.app) as server:
        yield fake, server


@pytest.fixture
def braintree(
    api: TestClient, runtime: Runtime, braintree_server: tuple[BraintreeFake, BackgroundServer]
) -> tuple[BraintreeFake, str]:
    fake, server = braintree_server
    fake.engine.reset()
    fake.reset()
    url = server.url
    runtime.connectors.register(
        "braintree", lambda: BraintreeConnector(url, connect_timeout=1.0, read_timeout=1.0)
    )
    r = api.post(
        "/v1/connector_accounts",
        data={
            "connector": "braintree",
            "credentials[private_key]": "bt_private_key_value",  # pragma: allowlist secret
            "settings[merchant_id]": "bt_merchant",
            "settings[public_key]": "bt_public",
        },
    )
    assert r.status_code == 200, r.text
    account: str = r.json()["id"]
    assert api.post("/v1/routing", json={"default": {"connectors": [account]}}).status_code == 200
    return fake, account


def search_result(fake: BraintreeFake) -> str:
    """``<credit-card-transactions>``: every sale and credit, as Braintree's search returns."""
    txns = [fake.sale(i) for i in fake.sales] + [fake.credit(i) for i in fake.credits]
    body = "".join(Generator({"transaction": _dashed(t)}).generate() for t in txns if t is not None)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<credit-card-transactions type="collection" total-items="{len(txns)}">'
        f"{body}</credit-card-transactions>"
    )


def test_braintrees_transaction_search_matches_sales_and_credits(
    api: TestClient, runtime: Runtime, braintree: tuple[BraintreeFake, str]
) -> None:
    fake, account = braintree
    p1 = pay(api, 2100)
    pay(api, 990)
    refund(api, p1["id"], 100)
    refund(api, p1["id"], 150)
    text = search_result(fake)
    parsed = formats.parse(text)
    assert parsed.format == "braintree_transactions"
    assert sorted(ln.amount for ln in parsed.lines) == [-150, -100, 990, 2100]
    r = upload(api, account, text)
    assert r.status_code == 200, r.text
    assert r.json()["lines"] == 4
    body = run(api, account, today())
    assert counts(body) == {"matched": 4}, body
    assert exceptions(api) == []


def test_unsettled_transactions_are_skipped_and_bad_xml_refused() -> None:
    doc = (
        "<credit-card-transactions>"
        "<transaction><id>a1</id><type>sale</type><status>authorized</status>"
        "<amount>5.00</amount><currency-iso-code>USD</currency-iso-code>"
        '<created-at type="datetime">2026-12-03T10:00:00Z</created-at></transaction>'
        "<transaction><id>a2</id><type>sale</type><status>settled</status>"
        "<amount>5.001</amount><currency-iso-code>USD</currency-iso-code>"
        '<created-at type="datetime">2026-12-03T10:00:00Z</created-at></transaction>'
        "</credit-card-transactions>"
    )
    with pytest.raises(InvalidRequestError, match="Line 2: amount") as info:
        formats.parse(doc)
    assert info.value.code == "report_invalid"
    ok = formats.parse(doc.replace("5.001", "5.00"))
    assert (ok.skipped, [ln.line_id for ln in ok.lines]) == (1, ["a2"])
    with pytest.raises(InvalidRequestError, match="not Braintree's XML"):
        formats.parse("<credit-card-transactions><unclosed>", "braintree_transactions")


def test_a_day_fetched_from_braintrees_transaction_search(
    api: TestClient, runtime: Runtime, merchant: Merchant, braintree: tuple[BraintreeFake, str]
) -> None:
    _fake, account = braintree
    p1 = pay(api, 4000)
    refund(api, p1["id"], 1000)
    body = reconcile_from_gateway(
        runtime.db,
        runtime.routing,
        runtime.connectors,
        merchant.id,
        account,
        datetime.now(UTC).date(),
        policy=FetchPolicy(attempts=2, backoff_seconds=0.001),
    )
    assert body["status"] == "completed", body
    assert counts(body) == {"matched": 2}
    [imp] = api.get("/v1/reconciliation/report_imports").json()["data"]
    assert imp["format"] == "braintree_transactions"
    # Another day's search finds nothing of today's.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    other = reconcile_from_gateway(
        runtime.db, runtime.routing, runtime.connectors, merchant.id, account, yesterday
    )
    assert (other["status"], counts(other)) == ("completed", {})
