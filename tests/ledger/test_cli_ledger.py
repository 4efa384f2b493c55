"""``strongbox ledger set-fee`` and ``strongbox ledger expire``."""

from __future__ import annotations

import json
import time

from typer.testing import CliRunner

from ledger.helpers import account, balance, post
from strongbox.cli.main import app
from strongbox.core.settings import Settings
from strongbox.ledger.models import KIND_PENDING
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant


def _env(settings: Settings) -> dict[str, str | None]:
    return {
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": settings.database_url,
        "STRONGBOX_RUN_WORKERS": "false",
    }


def test_set_fee(runtime: Runtime, settings: Settings, merchant: Merchant) -> None:
    r = CliRunner().invoke(
        app,
        ["ledger", "set-fee", merchant.id, "--bps", "250", "--fixed", "30", "--currency", "USD"],
        env=_env(settings),
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"currency": "usd", "percent_bps": 250, "fixed": 30}
    with runtime.db.unit_of_work() as uow:
        assert runtime.fees._read(uow, merchant.id, "usd") == (250, 30)
    bad = CliRunner().invoke(
        app, ["ledger", "set-fee", "acct_nope", "--bps", "1"], env=_env(settings)
    )
    assert bad.exit_code == 2
    assert "no such merchant" in bad.output
    assert "MERCHANT_ID" in bad.output  # the argument, not a --merchant option
    bad = CliRunner().invoke(
        app,
        ["ledger", "set-fee", merchant.id, "--bps", "1", "--currency", "zzz"],
        env=_env(settings),
    )
    assert bad.exit_code == 2


def test_expire(runtime: Runtime, settings: Settings, merchant: Merchant) -> None:
    cash, sales = account(runtime, merchant.id, "cash"), account(runtime, merchant.id, "sales")
    hold = T(
        id="h",
        kind=KIND_PENDING,
        debit_account_id=cash,
        credit_account_id=sales,
        amount=5,
        currency="usd",
        timeout=1,
    )
    post(runtime, merchant.id, hold)
    r = CliRunner().invoke(app, ["ledger", "expire"], env=_env(settings))
    assert r.exit_code == 0, r.output
    assert "expired 0 pending" in r.output
    time.sleep(1.2)
    r = CliRunner().invoke(app, ["ledger", "expire"], env=_env(settings))
    assert r.exit_code == 0, r.output
    assert "expired 1 pending" in r.output
    assert balance(runtime, merchant.id, cash).as_tuple() == (0, 0, 0, 0)
