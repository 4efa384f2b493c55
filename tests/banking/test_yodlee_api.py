"""Financial Connections with Yodlee behind it, over HTTP, against the Yodlee fake; and the
composition root's choice of providers from settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from banking.conftest import refresh_and_settle
from banking.fakes import yodlee_fake as yf
from strongbox.banking.providers.registry import Banking
from strongbox.banking.providers.yodlee import YodleeProvider
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.clock import SystemClock
from strongbox.core.secret import Secret
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_banking
from support import error_of


@pytest.fixture
def yodlee(runtime: Runtime) -> Iterator[yf.YodleeFake]:
    fake = yf.YodleeFake()
    with BackgroundServer(SimulatorEngine(), app=fake.app, set_base_url=False) as server:
        provider = YodleeProvider(
            server.url, yf.CLIENT_ID, Secret(yf.SECRET), yf.ADMIN, read_timeout=10
        )
        runtime.banking = Banking({"yodlee": provider}, runtime.sealer, "http://testserver")
        yield fake


def test_link_refresh_and_transactions_through_yodlee(
    api: TestClient, yodlee: yf.YodleeFake, runtime: Runtime
) -> None:
    r = api.post(
        "/v1/financial_connections/sessions",
        data={
            "account_holder[type]": "customer",
            "account_holder[customer]": "cus_yodlee",
            "permissions[0]": "balances",
            "permissions[1]": "transactions",
            "permissions[2]": "payment_method",
            "provider": "yodlee",
        },
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["provider"] == "yodlee"
    assert "cus_yodlee" in yodlee.users  # registered once, at Yodlee
    pa = yodlee.fake_fastlink(s["link_token"], "user_good", "pass_good")
    r = api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": pa}
    )
    assert r.status_code == 200, r.text
    accounts = r.json()["accounts"]["data"]
    assert [a["last4"] for a in accounts] == ["0000", "1111"]
    assert accounts[0]["institution_name"] == "Dag Site"
    acct = accounts[0]["id"]
    body = refresh_and_settle(api, runtime, acct, "balance", "transactions")
    assert body["balance"]["cash"]["available"] == {"usd": 10000}
    txns = api.get("/v1/financial_connections/transactions", params={"account": acct}).json()
    assert sorted(t["amount"] for t in txns["data"]) == [-8940, -1250, 50000]
    # A second session for the same customer: the user exists at Yodlee already (Y013).
    r = api.post(
        "/v1/financial_connections/sessions",
        data={
            "account_holder[type]": "customer",
            "account_holder[customer]": "cus_yodlee",
            "permissions[0]": "balances",
            "provider": "yodlee",
        },
    )
    assert r.status_code == 200, r.text


def test_a_provider_that_is_not_configured_is_a_stripe_error(
    api: TestClient, yodlee: yf.YodleeFake
) -> None:
    r = api.post(
        "/v1/financial_connections/sessions",
        data={"account_holder[type]": "account", "permissions[0]": "balances", "provider": "plaid"},
    )
    err = error_of(r, 400)
    assert (err["code"], err["param"]) == ("provider_not_configured", "provider")


def test_financial_connections_is_off_without_providers(api: TestClient, runtime: Runtime) -> None:
    assert runtime.banking is None
    r = api.post(
        "/v1/financial_connections/sessions",
        data={"account_holder[type]": "account", "permissions[0]": "balances"},
    )
    assert error_of(r, 400)["code"] == "provider_not_configured"
    r = api.post("/v1/financial_connections/webhooks/plaid", content=b"{}")
    assert r.status_code == 404


def test_providers_come_from_settings(tmp_path: Path, runtime: Runtime) -> None:
    none = build_banking(Settings(data_dir=tmp_path), runtime.sealer, SystemClock())
    assert none is None
    both = build_banking(
        Settings(
            data_dir=tmp_path,
            plaid_client_id="id",
            plaid_secret="plaid-secret-value",  # type: ignore[arg-type]
            yodlee_client_id="yid",
            yodlee_secret="yodlee-secret-value",  # type: ignore[arg-type]
            yodlee_admin_login="admin",
        ),
        runtime.sealer,
        SystemClock(),
    )
    assert both is not None
    try:
        assert set(both.providers) == {"plaid", "yodlee"}
        assert "plaid_verifier" in both.extra
        assert "secret-value" not in repr(both)
    finally:
        both.close()


def _linked(api: TestClient, fake: yf.YodleeFake) -> tuple[str, str]:
    r = api.post(
        "/v1/financial_connections/sessions",
        data={
            "account_holder[type]": "customer",
            "account_holder[customer]": "cus_hooks",
            "permissions[0]": "transactions",
            "provider": "yodlee",
        },
    )
    s = r.json()
    pa = fake.fake_fastlink(s["link_token"], "user_good", "pass_good")
    r = api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": pa}
    )
    assert r.status_code == 200, r.text
    return pa, r.json()["accounts"]["data"][0]["id"]


def test_yodlee_notifications_are_authenticated_hints_that_cost_one_sync(
    api: TestClient, yodlee: yf.YodleeFake, runtime: Runtime
) -> None:
    from strongbox.banking import tasks

    banking = runtime.banking
    assert banking is not None
    banking.extra["yodlee_webhook_token"] = Secret("callback-token-123")
    pa, acct = _linked(api, yodlee)
    hook = "/v1/financial_connections/webhooks/yodlee"
    body = (
        '{"event":{"info":"REFRESH.PROCESS_COMPLETED","loginName":"cus_hooks",'
        f'"data":{{"providerAccount":[{{"id":{pa},"refreshInfo":{{"status":"SUCCESS"}}}}]}}}}}}'
    ).encode()
    r = api.post(hook + "?token=wrong", content=body)
    assert error_of(r, 401)["code"] == "webhook_authentication_failed"
    r = api.post(hook, content=body)
    assert error_of(r, 401)["code"] == "webhook_authentication_failed"
    r = api.post(hook + "?token=callback-token-123", content=body)
    assert r.json() == {"received": True, "duplicate": False}
    r = api.post(hook + "?token=callback-token-123", content=body)
    assert r.json() == {"received": True, "duplicate": True}
    before = yodlee.calls["GET /transactions"]
    assert tasks.process_webhooks(runtime.db, banking) == 1
    assert yodlee.calls["GET /transactions"] == before + 1
    txns = api.get("/v1/financial_connections/transactions", params={"account": acct}).json()
    assert len(txns["data"]) == 3
    # A notice about a provider account we do not hold syncs nothing.
    other = body.replace(pa.encode(), b"424242")
    r = api.post(hook + "?token=callback-token-123", content=other)
    assert r.status_code == 200
    assert tasks.process_webhooks(runtime.db, banking) == 0
    assert yodlee.calls["GET /transactions"] == before + 1


def test_yodlee_login_failure_found_by_a_sync_deactivates(
    api: TestClient, yodlee: yf.YodleeFake, runtime: Runtime
) -> None:
    pa, acct = _linked(api, yodlee)
    yodlee.login_required(int(pa))
    body = refresh_and_settle(api, runtime, acct, "transactions")
    assert (body["status"], body["transaction_refresh"]["status"]) == ("inactive", "failed")
