"""Yodlee's provider calls per account per day: event notifications (``REFRESH``) against
polling every 15 minutes, on the Yodlee fake (the Plaid figures: ``test_call_budget.py``).

One simulated day of one login (two accounts) whose bank has new transactions in
``UPDATES_PER_DAY`` batches, each announced by a ``REFRESH`` notification. A Yodlee sync is
three calls (the provider account's status, its accounts, the transactions), so polling costs
3 x 96 a day; notifications cost one sync per batch plus the daily fallback poll. Token
fetches are left out (cached for their 30-minute life: at most 48 a day polling, fewer with
notifications). The figures are written down in docs/bank-data.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from banking.fakes import yodlee_fake as yf
from strongbox.banking import tasks
from strongbox.banking.models import BankItem
from strongbox.banking.providers.registry import Banking
from strongbox.banking.providers.yodlee import YodleeProvider
from strongbox.banking.setup import subscribe_yodlee
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.secret import Secret
from strongbox.runtime import Runtime

UPDATES_PER_DAY = 4
POLLS_PER_DAY = 24 * 60 // 15
DATA_CALLS = ("GET /providerAccounts", "GET /accounts", "GET /transactions")


@pytest.fixture
def yodlee(runtime: Runtime) -> Iterator[yf.YodleeFake]:
    fake = yf.YodleeFake()
    with BackgroundServer(SimulatorEngine(), app=fake.app, set_base_url=False) as server:
        provider = YodleeProvider(
            server.url, yf.CLIENT_ID, Secret(yf.SECRET), yf.ADMIN, read_timeout=10
        )
        runtime.banking = Banking(
            {"yodlee": provider},
            runtime.sealer,
            "https://strongbox.example",
            extra={"yodlee_webhook_token": Secret("budget-token")},
        )
        yield fake


def _calls(fake: yf.YodleeFake) -> int:
    return sum(fake.calls[c] for c in DATA_CALLS)


def test_yodlee_notifications_cost_far_fewer_calls_than_polling(
    api: TestClient, runtime: Runtime, yodlee: yf.YodleeFake
) -> None:
    banking = runtime.banking
    assert banking is not None
    subscribe_yodlee(banking)
    per_day: dict[str, int] = {}
    for mode in ("polling", "notifications"):
        s = api.post(
            "/v1/financial_connections/sessions",
            data={
                "account_holder[type]": "customer",
                "account_holder[customer]": f"cus_{mode}",
                "permissions[0]": "transactions",
                "provider": "yodlee",
            },
        ).json()
        pa = int(yodlee.fake_fastlink(s["link_token"], "user_good", "pass_good"))
        api.post(
            f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": pa}
        )
        with runtime.db.reader() as uow:
            item = uow.session.scalars(
                sa.select(BankItem).where(BankItem.provider_item_id == str(pa))
            ).one()
            ours, merchant_id = item.id, item.merchant_id
        ctx = tasks._system(merchant_id, "test")
        tasks.sync_item(runtime.db, banking, ctx, merchant_id, ours)  # linked: the first sync
        start = _calls(yodlee)
        every = POLLS_PER_DAY // UPDATES_PER_DAY
        for tick in range(POLLS_PER_DAY):
            if tick % every == every // 2:
                txn = [(f"{pa % 100000}{tick:03d}", 1.25, f"{mode} {tick}")]
                if mode == "polling":
                    yodlee.add_transactions(pa, txn)
                else:
                    yodlee.refresh_login(pa, txn)
            if mode == "polling":
                tasks.sync_item(runtime.db, banking, ctx, merchant_id, ours)
            else:
                yodlee.deliver(
                    lambda url, body: api.post(
                        urlsplit(url).path + "?" + urlsplit(url).query, content=body
                    )
                )
                tasks.process_webhooks(runtime.db, banking)
        if mode == "notifications":  # the day is over: the fallback poll comes due once
            with runtime.db.unit_of_work() as uow:
                uow.session.execute(
                    sa.update(BankItem)
                    .where(BankItem.id == ours)
                    .values(next_poll_at=uow.clock.now() - timedelta(seconds=1))
                )
                uow.commit()
            assert tasks.poll_once(runtime.db, banking) == 1
        per_day[mode] = _calls(yodlee) - start
    assert per_day["polling"] == 3 * POLLS_PER_DAY  # 288 per login, 144 per account
    assert per_day["notifications"] == 3 * (UPDATES_PER_DAY + 1)  # 15 per login, 7.5 per account
    saved = 1 - per_day["notifications"] / per_day["polling"]
    assert saved >= 0.70, saved
