"""Bank-data fixtures: a Plaid fake on a real local HTTP server, and the runtime's banking
wired to it through the real Plaid provider (plaid-python) and webhook verifier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from banking.fakes.plaid_fake import CLIENT_ID, SECRET, PlaidFake
from strongbox.banking import tasks
from strongbox.banking.providers.plaid import PlaidProvider
from strongbox.banking.providers.plaid_webhooks import PlaidWebhookVerifier
from strongbox.banking.providers.registry import Banking
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer
from strongbox.core.secret import Secret
from strongbox.runtime import Runtime
from support import wait_until


@pytest.fixture
def plaid_fake() -> Iterator[PlaidFake]:
    fake = PlaidFake()
    with BackgroundServer(SimulatorEngine(), app=fake.app, set_base_url=False) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


def plaid_banking(rt: Runtime, url: str, public_url: str | None = None) -> Banking:
    plaid = PlaidProvider(url, CLIENT_ID, Secret(SECRET), clock=rt.db.clock, read_timeout=10)
    return Banking(
        {"plaid": plaid},
        rt.sealer,
        public_url or rt.settings.public_url,
        extra={"plaid_verifier": PlaidWebhookVerifier(plaid.webhook_verification_key, rt.db.clock)},
    )


@pytest.fixture
def banking(runtime: Runtime, plaid_fake: PlaidFake) -> Banking:
    runtime.banking = plaid_banking(runtime, plaid_fake.url)  # type: ignore[attr-defined]
    return runtime.banking


FIELDS = {"balance": "balance_refresh", "ownership": "ownership_refresh"}


def settle_refresh(
    api: TestClient, rt: Runtime, account: str, field: str = "balance_refresh"
) -> dict[str, Any]:
    """Run the bank worker's queue until the account's ``field`` is no longer pending (what
    the ``bank-webhooks`` loop does on its own); the account as the API shows it then."""
    banking = rt.banking
    assert banking is not None

    def settled() -> dict[str, Any] | None:
        tasks.process_webhooks(rt.db, banking)
        r = api.get(f"/v1/financial_connections/accounts/{account}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body if (body[field] or {}).get("status") != "pending" else None

    found: dict[str, Any] = wait_until(settled, f"the {field} to settle")
    return found


def refresh_and_settle(
    api: TestClient, rt: Runtime, account: str, *features: str
) -> dict[str, Any]:
    """``POST …/refresh``: it answers at once with the features ``pending`` (as Stripe's
    does); the worker completes them. The account afterwards."""
    data = {f"features[{i}]": f for i, f in enumerate(features)}
    r = api.post(f"/v1/financial_connections/accounts/{account}/refresh", data=data)
    assert r.status_code == 200, r.text
    fields = [FIELDS.get(f, "transaction_refresh") for f in features]
    assert {r.json()[f]["status"] for f in fields} == {"pending"}, r.text
    body: dict[str, Any] = {}
    for f in fields:
        body = settle_refresh(api, rt, account, f)
    return body


class Bank:
    """Drives the flows a merchant's server and its user's browser go through."""

    def __init__(self, api: TestClient, fake: PlaidFake, runtime: Runtime | None = None) -> None:
        self.api = api
        self.fake = fake
        self.runtime = runtime

    def refresh(self, account: str, *features: str) -> dict[str, Any]:
        """``POST …/refresh`` (it answers at once, the features ``pending``), then the worker's
        passes that complete it: the account afterwards."""
        assert self.runtime is not None
        return refresh_and_settle(self.api, self.runtime, account, *features)

    def settle_refresh(self, account: str, field: str = "balance_refresh") -> dict[str, Any]:
        assert self.runtime is not None
        return settle_refresh(self.api, self.runtime, account, field)

    def session(
        self, permissions: tuple[str, ...] = ("balances", "transactions"), **extra: Any
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "account_holder[type]": "customer",
            "account_holder[customer]": "cus_test",
        }
        for i, p in enumerate(permissions):
            data[f"permissions[{i}]"] = p
        data.update(extra)
        r = self.api.post("/v1/financial_connections/sessions", data=data)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def link(
        self, permissions: tuple[str, ...] = ("balances", "transactions"), **extra: Any
    ) -> dict[str, Any]:
        s = self.session(permissions, **extra)
        public = self.fake.fake_link_login(s["link_token"], "user_good", "pass_good")
        r = self.api.post(
            f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": public}
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def deliver_webhooks(self) -> list[Any]:
        def post(url: str, body: bytes, headers: dict[str, str]) -> Any:
            return self.api.post(urlsplit(url).path, content=body, headers=headers)

        return self.fake.deliver(post)

    def transactions(self, account: str) -> list[dict[str, Any]]:
        r = self.api.get(
            "/v1/financial_connections/transactions", params={"account": account, "limit": 100}
        )
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        return data


@pytest.fixture
def bank(api: TestClient, banking: Banking, plaid_fake: PlaidFake, runtime: Runtime) -> Bank:
    return Bank(api, plaid_fake, runtime)
