"""``strongbox webhooks …`` against the test's database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.runtime import Runtime
from support import Merchant


def run(env: dict[str, str | None], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["webhooks", *args], env=env)
    assert result.exit_code == code, result.output + repr(result.exception)
    return json.loads(result.stdout) if code == 0 else result


def test_create_rotate_redeliver_and_attempts(
    cli_env: dict[str, str | None], runtime: Runtime, merchant: Merchant, api: Any
) -> None:
    e = run(
        cli_env,
        "create",
        "--merchant",
        merchant.id,
        "--url",
        "https://h.example.com/x",
        "--event",
        "payment_intent.created",
    )
    assert e["id"].startswith("we_")
    assert e["secret"].startswith("whsec_")
    assert api.get(f"/v1/webhook_endpoints/{e['id']}").json()["url"] == "https://h.example.com/x"
    listed = run(cli_env, "list", "--merchant", merchant.id)
    assert [x["id"] for x in listed["data"]] == [e["id"]]
    rotated = run(cli_env, "rotate-secret", "--merchant", merchant.id, e["id"])
    assert rotated["secret"] != e["secret"]
    assert rotated["secret_rotation_expires_at"] is not None
    pi = api.post("/v1/payment_intents", data={"amount": 100, "currency": "usd"}).json()
    [event] = api.get("/v1/events").json()["data"]
    assert event["data"]["object"]["id"] == pi["id"]
    d = run(cli_env, "redeliver", "--merchant", merchant.id, e["id"], event["id"])
    assert d["object"] == "webhook_delivery"
    assert d["status"] == "pending"
    assert run(cli_env, "attempts", "--merchant", merchant.id, e["id"])["data"] == []
    gw = run(
        cli_env,
        "add-gateway",
        "--merchant",
        merchant.id,
        "stripe",
        "--signing-secret",
        "whsec_from_stripe_1",
    )
    assert gw["url"].endswith(f"/v1/webhooks/inbound/stripe/{gw['id']}")


def test_errors_are_reported_and_change_nothing(
    cli_env: dict[str, str | None], runtime: Runtime, merchant: Merchant, api: Any
) -> None:
    bad = run(
        cli_env, "create", "--merchant", merchant.id, "--url", "ftp://x", "--event", "*", code=1
    )
    assert "url_invalid" in bad.output
    missing = run(cli_env, "redeliver", "--merchant", merchant.id, "we_nope", "evt_nope", code=1)
    assert "resource_missing" in missing.output
    run(cli_env, "list", "--merchant", "acct_nope", code=2)
    assert api.get("/v1/webhook_endpoints").json()["data"] == []


def test_add_gateway_for_adyen_with_basic_auth(
    cli_env: dict[str, str | None], runtime: Runtime, merchant: Merchant, api: Any
) -> None:
    password = "notify-" + "pw" * 3  # pragma: allowlist secret
    gw = run(
        cli_env,
        "add-gateway",
        "--merchant",
        merchant.id,
        "adyen",
        "--signing-secret",
        "7E" * 32,
        "--basic-auth-username",
        "adyen-notify",
        "--basic-auth-password",
        password,
    )
    assert gw["url"].endswith(f"/v1/webhooks/inbound/adyen/{gw['id']}")
    assert gw["basic_auth_username"] == "adyen-notify"
    assert password not in json.dumps(gw)
    bad = run(
        cli_env,
        "add-gateway",
        "--merchant",
        merchant.id,
        "adyen",
        "--signing-secret",
        "xyz!" * 4,
        code=1,
    )
    assert "signing_secret" in bad.output
