"""A browser reads its session with the publishable key and the session's ``client_secret``
(Stripe.js ``collectFinancialConnectionsAccounts``); a wrong secret is 404, like no session."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from banking.conftest import Bank
from support import Merchant, error_of


def _get(client: TestClient, key: str, sid: str, **params: str) -> Any:
    return client.get(
        f"/v1/financial_connections/sessions/{sid}",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
    )


def test_a_publishable_key_reads_a_session_by_its_client_secret(
    bank: Bank, client: TestClient, merchant: Merchant, new_merchant: Any
) -> None:
    s = bank.session()
    pk, secret = merchant.publishable_key, s["client_secret"]
    r = _get(client, pk, s["id"], client_secret=secret)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["status"], body["link_token"]) == (s["id"], "pending", s["link_token"])
    # After the link flow, the browser sees the linked accounts.
    public = bank.fake.fake_link_login(s["link_token"], "user_good", "pass_good")
    done = bank.api.post(
        f"/v1/financial_connections/sessions/{s['id']}/complete", data={"public_token": public}
    ).json()
    r = _get(client, pk, s["id"], client_secret=secret)
    assert [a["id"] for a in r.json()["accounts"]["data"]] == [
        a["id"] for a in done["accounts"]["data"]
    ]
    # A wrong secret, another session's secret, another merchant's key: 404, nothing shown.
    other = bank.session()
    for key, sid, cs in (
        (pk, s["id"], secret + "x"),
        (pk, s["id"], other["client_secret"]),
        (pk, other["id"], secret),
        (new_merchant().publishable_key, s["id"], secret),
    ):
        r = _get(client, key, sid, client_secret=cs)
        assert error_of(r, 404)["code"] == "resource_missing"
        assert "fca_" not in r.text
        assert s["link_token"] not in r.text
    err = error_of(_get(client, pk, s["id"]), 400)
    assert (err["code"], err["param"]) == ("parameter_missing", "client_secret")
    # The secret key reads it without one, and with a wrong one gets 404 too.
    assert _get(client, merchant.secret_key, s["id"]).status_code == 200
    wrong = "nope"  # pragma: allowlist secret
    assert _get(client, merchant.secret_key, s["id"], client_secret=wrong).status_code == 404


def test_a_publishable_key_writes_nothing(
    bank: Bank, client: TestClient, merchant: Merchant
) -> None:
    s = bank.session()
    h = {"Authorization": f"Bearer {merchant.publishable_key}"}
    r = client.post(f"/v1/financial_connections/sessions/{s['id']}/complete", headers=h)
    assert error_of(r, 403)["code"] == "secret_key_required"
    r = client.get("/v1/financial_connections/accounts", headers=h)
    assert error_of(r, 403)["code"] == "secret_key_required"
