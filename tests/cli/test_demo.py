"""``strongbox demo`` runs its scripted tour end to end and fails loudly when a step misbehaves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strongbox.cli.demo import DemoError
from strongbox.cli.main import app
from strongbox.payments import test_methods

# The demo must ignore these: it always runs on its own embedded SQLite file.
ISOLATED_ENV: dict[str, str | None] = {
    "STRONGBOX_DATABASE_URL": None,
    "STRONGBOX_SIMULATOR_URL": None,
    "STRONGBOX_DATA_DIR": None,
}


def _instance_dir(output: str) -> Path:
    match = re.search(r"embedded instance in (\S+)", output)
    assert match, output
    return Path(match.group(1))


def test_demo_tour_succeeds_and_cleans_up() -> None:
    result = CliRunner().invoke(app, ["demo"], env=ISOLATED_ENV)
    out = result.output
    assert result.exit_code == 0, out + repr(result.exception)

    # Each step is numbered and shows its request and answer.
    for n in range(1, 8):
        assert f"\n{n}. " in out
    assert "All 7 steps behaved as expected." in out
    assert "-> POST /v1/payment_intents  amount=2000 currency=usd" in out
    assert "status=requires_payment_method  amount=$20.00 usd" in out
    assert "status=succeeded  amount=$20.00 usd  received=$20.00 usd" in out
    # manual capture: authorize 50, capture 30
    assert "status=requires_capture  amount=$50.00 usd  capturable=$50.00 usd" in out
    assert "amount_to_capture=3000" in out
    assert "status=succeeded  amount=$50.00 usd  received=$30.00 usd" in out
    # partial refund
    assert re.search(r"<- 200 re_\w+  status=succeeded  amount=\$5\.00 usd", out)
    # decline
    assert "<- 402 card_error  code=card_declined  decline_code=insufficient_funds" in out
    # 3DS
    assert "status=requires_action  amount=$42.00 usd" in out
    challenge = re.search(r"-> POST (/simulator/3ds/\S+)/complete", out)
    assert challenge, out
    assert "status=succeeded  amount=$42.00 usd  received=$42.00 usd" in out
    # idempotent replay: the same id twice, the second flagged as replayed
    replay = re.findall(r"<- 200 (pi_\w+)  status=succeeded  amount=\$15\.00 usd", out)
    assert len(replay) == 2
    assert replay[0] == replay[1]
    assert "Idempotent-Replayed: true" in out
    assert "one payment was made, not two" in out
    # Every check printed; none failed.
    assert out.count("   ok: ") == 23

    # Keys are not printed in full.
    assert not re.search(r"sk_test_[A-Za-z0-9]{20,}", out)
    # The temporary instance is gone.
    tmp = _instance_dir(out)
    assert tmp.name.startswith("strongbox-demo-")
    assert not tmp.exists()


def test_demo_with_data_dir_keeps_the_database(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(data)], env=ISOLATED_ENV)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert _instance_dir(result.output) == data
    assert (data / "strongbox.db").is_file()
    assert "All 7 steps behaved as expected." in result.output


def test_demo_fails_when_a_step_misbehaves(monkeypatch: pytest.MonkeyPatch) -> None:
    # The "declined" card now approves: step 5 cannot get its 402.
    monkeypatch.setitem(
        test_methods.TEST_PAYMENT_METHODS,
        "pm_card_chargeDeclinedInsufficientFunds",
        test_methods.TEST_PAYMENT_METHODS["pm_card_visa"],
    )
    result = CliRunner().invoke(app, ["demo"], env=ISOLATED_ENV)
    assert result.exit_code != 0
    assert isinstance(result.exception, DemoError)
    assert "step 5" in str(result.exception)
    assert "answered HTTP 200 (expected 402)" in str(result.exception)
    assert "All 7 steps" not in result.output
    assert "\n4. Refund $5.00 of the first payment" in result.output
    assert not _instance_dir(result.output).exists()  # cleaned up on failure too
