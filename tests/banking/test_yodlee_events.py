"""Yodlee's event notifications, as Yodlee sends them (from the fake, to the subscribed URL):
the subscription made at setup through ``/configs/notifications/events``, then ``REFRESH``,
``AUTO_REFRESH_UPDATES`` and ``DATA_UPDATES`` (which names a user: each of their logins is
synced) leading to new transactions through the bank worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from banking.fakes import yodlee_fake as yf
from strongbox.banking import tasks
from strongbox.banking.providers.registry import Banking
from strongbox.banking.providers.yodlee import YodleeProvider, yodlee_notices
from strongbox.banking.setup import SetupError, subscribe_yodlee
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.secret import Secret
from strongbox.runtime import Runtime

TOKEN = "yodlee-callback-token"  # pragma: allowlist secret


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
            extra={"yodlee_webhook_token": Secret(TOKEN)},
        )
        yield fake


def _link(api: TestClient, fake: yf.YodleeFake, customer: str) -> tuple[int, str]:
    s = api.post(
        "/v1/financial_connections/sessions",
        data={
            "account_holder[type]": "customer",
            "account_holder[customer]": customer,
            "permissions[0]": "transactions",
            "provider": "yodlee",
        },
    ).json()
    pa = fake.fake_fastlink(s["link_token"], "user_good", "pass_good")
    r = api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": pa}
    )
    assert r.status_code == 200, r.text
    return int(pa), r.json()["accounts"]["data"][0]["id"]


def _deliver(api: TestClient, fake: yf.YodleeFake) -> list[Any]:
    def post(url: str, body: bytes) -> Any:
        u = urlsplit(url)
        r = api.post(f"{u.path}?{u.query}", content=body)
        assert r.status_code == 200, r.text
        return r.json()

    return fake.deliver(post)


def _descriptions(api: TestClient, acct: str) -> set[str]:
    r = api.get("/v1/financial_connections/transactions", params={"account": acct, "limit": 100})
    return {t["description"] for t in r.json()["data"]}


def test_subscribing_at_setup_is_idempotent(runtime: Runtime, yodlee: yf.YodleeFake) -> None:
    banking = runtime.banking
    assert banking is not None
    done = subscribe_yodlee(banking)
    assert done == {
        "REFRESH": "created",
        "AUTO_REFRESH_UPDATES": "created",
        "DATA_UPDATES": "created",
    }
    url = "https://strongbox.example/v1/financial_connections/webhooks/yodlee?token=" + TOKEN
    assert yodlee.subscriptions == dict.fromkeys(done, url)
    assert set(subscribe_yodlee(banking).values()) == {"unchanged"}
    banking.public_url = "https://moved.example"
    assert set(subscribe_yodlee(banking).values()) == {"updated"}
    assert set(yodlee.subscriptions.values()) == {url.replace("strongbox", "moved")}
    banking.extra.pop("yodlee_webhook_token")
    with pytest.raises(SetupError):
        subscribe_yodlee(banking)
    assert "token" not in repr(banking.providers["yodlee"])


def test_yodlee_events_as_sent_lead_to_new_transactions(
    api: TestClient, runtime: Runtime, yodlee: yf.YodleeFake
) -> None:
    banking = runtime.banking
    assert banking is not None
    subscribe_yodlee(banking)
    pa, acct = _link(api, yodlee, "cus_events")
    yodlee.refresh_login(pa, [("9001", 4.5, "Refreshed")])
    assert [r["duplicate"] for r in _deliver(api, yodlee)] == [False]
    assert tasks.process_webhooks(runtime.db, banking) == 1
    assert "Refreshed" in _descriptions(api, acct)
    yodlee.auto_refresh(pa, [("9002", 6.0, "Nightly")])
    _deliver(api, yodlee)
    assert tasks.process_webhooks(runtime.db, banking) == 1
    assert "Nightly" in _descriptions(api, acct)


def test_data_updates_name_a_user_and_sync_each_of_their_logins(
    api: TestClient, runtime: Runtime, yodlee: yf.YodleeFake
) -> None:
    banking = runtime.banking
    assert banking is not None
    subscribe_yodlee(banking)
    pa1, acct1 = _link(api, yodlee, "cus_two_banks")
    pa2, acct2 = _link(api, yodlee, "cus_two_banks")
    _other_pa, other = _link(api, yodlee, "cus_someone_else")
    yodlee.add_transactions(pa1, [("9101", 1.0, "First bank")])
    yodlee.add_transactions(pa2, [("9102", 2.0, "Second bank")])
    before = yodlee.calls["GET /transactions"]
    yodlee.data_updates(["cus_two_banks", "cus_nobody"])
    _deliver(api, yodlee)
    assert tasks.process_webhooks(runtime.db, banking) == 2  # one per login of the user
    assert yodlee.calls["GET /transactions"] == before + 2
    assert "First bank" in _descriptions(api, acct1)
    assert "Second bank" in _descriptions(api, acct2)
    assert _descriptions(api, other) == set()  # another user's login was not synced
    # The same delivery again is one delivery: nothing more.
    yodlee.data_updates(["cus_two_banks", "cus_later"])  # a new body: a new delivery
    again = yodlee.outbox[0]
    yodlee.outbox.append(again)
    replies = _deliver(api, yodlee)
    assert [r["duplicate"] for r in replies] == [False, True]


def test_notices_parse_yodlees_formats() -> None:
    data = {"event": {"info": "DATA_UPDATES.USER_DATA", "data": {"userData": [{"user": {}}]}}}
    assert yodlee_notices(data) == []
    users = yodlee_notices(
        {
            "event": {
                "info": "DATA_UPDATES.USER_DATA",
                "data": {
                    "userData": [{"user": {"loginName": "u1"}}, {"user": {"loginName": "u1"}}]
                },
            }
        }
    )
    assert [(n.provider_item_id, n.provider_user_id) for n in users] == [("", "u1")]
    assert yodlee_notices({"event": {"info": "REFRESH", "data": {"providerAccount": ["x"]}}}) == []
    assert yodlee_notices({"event": "nope"}) == []
