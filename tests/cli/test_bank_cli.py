"""``strongbox bank subscribe-yodlee``: Yodlee's events subscribed to this server's receiver
at setup, against the Yodlee fake."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from banking.fakes import yodlee_fake as yf
from strongbox.cli.main import app
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import BackgroundServer

TOKEN = "cli-callback-token"  # pragma: allowlist secret


def test_subscribe_yodlee(cli_env: dict[str, str | None]) -> None:
    fake = yf.YodleeFake()
    with BackgroundServer(SimulatorEngine(), app=fake.app, set_base_url=False) as server:
        env = {
            **cli_env,
            "STRONGBOX_PUBLIC_URL": "https://pay.example",
            "STRONGBOX_PLAID_CLIENT_ID": None,
            "STRONGBOX_YODLEE_API_BASE": server.url,
            "STRONGBOX_YODLEE_CLIENT_ID": yf.CLIENT_ID,
            "STRONGBOX_YODLEE_SECRET": yf.SECRET,
            "STRONGBOX_YODLEE_ADMIN_LOGIN": yf.ADMIN,
        }
        result = CliRunner().invoke(app, ["bank", "subscribe-yodlee"], env=env)
        assert result.exit_code == 1  # no webhook token: Yodlee's notices would be refused
        assert "STRONGBOX_YODLEE_WEBHOOK_TOKEN" in result.stderr
        env["STRONGBOX_YODLEE_WEBHOOK_TOKEN"] = TOKEN
        result = CliRunner().invoke(app, ["bank", "subscribe-yodlee"], env=env)
        assert result.exit_code == 0, result.output
        assert set(json.loads(result.stdout).values()) == {"created"}
        assert TOKEN not in result.stdout
        url = f"https://pay.example/v1/financial_connections/webhooks/yodlee?token={TOKEN}"
        assert set(fake.subscriptions.values()) == {url}
        result = CliRunner().invoke(app, ["bank", "subscribe-yodlee"], env=env)
        assert set(json.loads(result.stdout).values()) == {"unchanged"}
    result = CliRunner().invoke(app, ["bank", "subscribe-yodlee"], env=cli_env)
    assert result.exit_code == 1
    assert "no bank-data provider" in result.stderr
