"""Financial Connections events reach webhook endpoints: an endpoint may subscribe to them by
name, and the fan-out queues a delivery of each to it."""

from __future__ import annotations

import sqlalchemy as sa

from banking.conftest import Bank
from strongbox.runtime import Runtime
from strongbox.webhooks import service as webhooks
from strongbox.webhooks.models import WebhookDelivery

WANTED = [
    "financial_connections.account.refreshed_balance",
    "financial_connections.account.refreshed_transactions",
    "financial_connections.account.disconnected",
]


def test_bank_events_are_delivered_to_subscribed_endpoints(bank: Bank, runtime: Runtime) -> None:
    r = bank.api.post(
        "/v1/webhook_endpoints",
        data={"url": "https://merchant.example/hooks", "enabled_events[]": WANTED},
    )
    assert r.status_code == 200, r.text
    done = bank.link()
    acct = done["accounts"]["data"][0]["id"]
    for feature in ("balance", "transactions"):
        bank.refresh(acct, feature)  # the worker completes it; then the event fires
    assert bank.api.post(f"/v1/financial_connections/accounts/{acct}/disconnect").status_code == 200
    with runtime.db.unit_of_work() as uow:
        webhooks.fanout_once(uow)
        uow.commit()
    with runtime.db.engine.connect() as conn:
        types = conn.execute(sa.select(WebhookDelivery.event_type)).scalars().all()
    # Two accounts refreshed each time (one login), one disconnected; account.created is not
    # subscribed to.
    assert sorted(types) == sorted([WANTED[0]] * 2 + [WANTED[1]] * 2 + [WANTED[2]])
