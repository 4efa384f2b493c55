"""No access token, ACH account number or Plaid secret leaks, through the whole flow, with
every logger at DEBUG (plaid-python, urllib3 and SQLAlchemy statements and parameters
included): not into a log record, a table cell, an event or an API response."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from banking.conftest import Bank
from banking.fakes.plaid_fake import SECRET, PlaidFake
from strongbox.banking import tasks
from strongbox.db.metadata import target_metadata
from strongbox.runtime import Runtime

LOGGERS = ("sqlalchemy.engine", "plaid", "urllib3", "httpx", "strongbox")


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """Every logger at DEBUG for this test only: the levels are put back afterwards, so later
    tests in the same process (which count log records) see what they expect."""
    old = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    for name, level in old.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("debug_logs")
def test_tokens_and_account_numbers_never_leak(
    bank: Bank, plaid_fake: PlaidFake, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[str] = []
    s = bank.session(
        ("balances", "transactions", "payment_method", "ownership"),
        **{"prefetch[0]": "balance", "prefetch[1]": "ownership"},
    )
    public = plaid_fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    r = bank.api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": public}
    )
    answers.append(r.text)
    accts = [a["id"] for a in r.json()["accounts"]["data"]]
    for feature in ("balance", "ownership", "transactions"):
        answers.append(json.dumps(bank.refresh(accts[0], feature)))
    (item,) = plaid_fake.items.values()
    plaid_fake.add_transactions(item.item_id, [{"transaction_id": "leak-1", "amount": 2}])
    answers += [x.text for x in bank.deliver_webhooks()]
    tasks.process_webhooks(runtime.db, runtime.banking)  # type: ignore[arg-type]
    item.login_required = True
    answers.append(json.dumps(bank.refresh(accts[0], "balance")))
    item.login_required = False
    for a in accts:
        answers.append(bank.api.post(f"/v1/financial_connections/accounts/{a}/disconnect").text)
    answers.append(bank.api.get("/v1/events", params={"limit": 100}).text)
    answers.append(bank.api.get("/v1/financial_connections/accounts").text)

    secrets = [item.access_token, SECRET, public, "1111222233330000", "1111222233331111"]
    logged = "\n".join(
        f"{rec.getMessage()} {rec.args!r} {rec.exc_text or ''}" for rec in caplog.records
    )
    assert "transactions/sync" in logged or "POST" in logged  # the logs were captured
    cells: list[str] = []
    with runtime.db.engine.connect() as conn:
        for table in target_metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                cells += [repr(v) for v in row]
    dump = "\n".join(cells)
    assert "fca_" in dump  # the tables were read
    for secret in secrets:
        assert secret not in logged, "a secret in the logs"
        assert secret not in dump, "a secret in the database"
        for text in answers:
            assert secret not in text, "a secret in an API answer"
