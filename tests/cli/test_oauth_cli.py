"""``strongbox oauth clients create|list|revoke`` and ``strongbox oauth keys rotate|list``."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from strongbox.api.app import create_app
from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.runtime import build_runtime


def _cli(env: dict[str, str | None], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


def _token(settings: Settings, client_id: str, secret: str) -> Any:
    rt = build_runtime(settings, migrate=False)
    try:
        with TestClient(create_app(rt, run_workers=False), base_url="https://testserver") as c:
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            return c.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
    finally:
        rt.close()


def test_clients_create_list_revoke(cli_env: dict[str, str | None], settings: Settings) -> None:
    merchant = json.loads(_cli(cli_env, "merchants", "create", "Acme").stdout)["id"]
    created = json.loads(
        _cli(
            cli_env, "oauth", "clients", "create", merchant, "Reports", "--scope", "customers:read"
        ).stdout
    )
    assert created["client_type"] == "confidential"
    assert created["grant_types"] == ["client_credentials"]
    secret = created["client_secret"]
    r = _token(settings, created["id"], secret)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "customers:read"

    listed = [
        json.loads(line)
        for line in _cli(cli_env, "oauth", "clients", "list", merchant).stdout.splitlines()
    ]
    assert [c["id"] for c in listed] == [created["id"]]
    assert all("client_secret" not in c for c in listed)

    _cli(cli_env, "oauth", "clients", "revoke", merchant, created["id"])
    refused = _token(settings, created["id"], secret)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_clients_create_refuses_bad_input_without_writing(
    cli_env: dict[str, str | None],
) -> None:
    merchant = json.loads(_cli(cli_env, "merchants", "create", "Acme").stdout)["id"]
    bad = _cli(cli_env, "oauth", "clients", "create", merchant, "X", "--scope", "root:all", code=1)
    assert "unknown permission" in bad.output
    plain_http = _cli(
        cli_env, "oauth", "clients", "create", merchant, "X", "--scope", "customers:read",
        "--type", "public", "--redirect-uri", "http://app.example.com/cb", code=1,
    )  # fmt: skip
    assert "redirect URI" in plain_http.output
    assert _cli(cli_env, "oauth", "clients", "list", merchant).stdout == ""


def test_keys_rotate_and_list(cli_env: dict[str, str | None]) -> None:
    first = json.loads(_cli(cli_env, "oauth", "keys", "rotate").stdout)["kid"]
    second = json.loads(_cli(cli_env, "oauth", "keys", "rotate").stdout)["kid"]
    assert first != second
    keys = json.loads(_cli(cli_env, "oauth", "keys", "list").stdout)["keys"]
    assert [k["kid"] for k in keys] == [second, first]  # the retired one until its tokens expire
    assert all("d" not in k for k in keys)
