"""Payments that settle in the merchant's settlement currency: both legs through the FX
account, the rate on the balance transaction, refunds converted back, ledger verify clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fx.fx_helpers import DAY1, DAY2, ecb_xml
from ledger.helpers import balance, system_account
from strongbox.auth import account
from strongbox.cli.ledger import run_verify
from strongbox.connectors.base import TerminalError
from strongbox.events.types import RequestContext
from strongbox.fx import service as fx
from strongbox.fx.providers import EcbFile
from strongbox.ledger.conversion import conversion_id, refund_conversion_id
from strongbox.ledger.handlers import authorization_id, capture_id, fee_id, refund_id
from strongbox.ledger.models import FEES, FX, GATEWAY_RECEIVABLE, MERCHANT_PENDING, REFUNDS
from strongbox.runtime import Runtime
from support import Merchant, error_of


def _settle_in(runtime: Runtime, merchant: Merchant, currency: str | None) -> None:
    with runtime.db.unit_of_work() as uow:
        account.set_settlement_currency(
            uow, RequestContext(merchant_id=merchant.id, actor="test"), merchant.id, currency
        )
        uow.commit()
    runtime.key_cache.clear()


def _load(runtime: Runtime, tmp_path: Path, days: dict[str, dict[str, str]]) -> None:
    path = tmp_path / f"rates-{len(list(tmp_path.iterdir()))}.xml"
    path.write_text(ecb_xml(days))
    fx.load(runtime.db, EcbFile(path), runtime.fx)


def _pay(api: TestClient, amount: int, currency: str, *, manual: bool = False) -> dict[str, Any]:
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "capture_method": "manual" if manual else "automatic",
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _bal(runtime: Runtime, merchant: Merchant, purpose: str, cur: str) -> tuple[int, ...]:
    info = system_account(runtime, merchant.id, purpose, cur)
    return balance(runtime, merchant.id, info.id).as_tuple()


def _transfers(runtime: Runtime, merchant: Merchant, *ids: str) -> dict[str, Any]:
    with runtime.db.read() as session:
        return runtime.ledger.find_transfers(session, merchant.id, ids)


def _problems(runtime: Runtime) -> list[str]:
    return [str(p) for p in run_verify(runtime).problems]


def test_a_dollar_payment_settles_in_euros_through_the_fx_account(
    api: TestClient, runtime: Runtime, merchant: Merchant, tmp_path: Path
) -> None:
    _load(runtime, tmp_path, DAY1)  # USD 1.0523 per EUR
    _settle_in(runtime, merchant, "eur")
    with runtime.db.unit_of_work() as uow:  # 2.9% + €0.25, on the converted amount
        runtime.fees.set_schedule(uow, merchant.id, "eur", 290, 25)
        uow.commit()
    assert api.get("/v1/account").json()["default_currency"] == "eur"
    pi = _pay(api, 10_000, "usd")
    assert pi["status"] == "succeeded"
    legs = _transfers(
        runtime, merchant, capture_id(pi["id"]), conversion_id(pi["id"]), fee_id(pi["id"])
    )
    cap, conv = legs[capture_id(pi["id"])], legs[conversion_id(pi["id"])]
    assert (cap.amount, cap.currency) == (10_000, "usd")
    # $100.00 / 1.0523 = €95.0299...: 9503 cents, rounded half up once
    assert (conv.amount, conv.currency, conv.code) == (9503, "eur", "charge")
    assert conv.metadata["exchange_rate"] == "0.950299344293"
    assert conv.metadata["exchange_rate_date"] == "2026-12-03"
    assert conv.metadata["presentment_amount"] == 10_000
    # Each currency balances on its own: USD receivable against the USD FX position, the
    # EUR FX position against the merchant's EUR balance; nothing in the merchant's USD.
    assert _bal(runtime, merchant, GATEWAY_RECEIVABLE, "usd")[1] == 10_000
    assert _bal(runtime, merchant, FX, "usd")[3] == 10_000
    assert _bal(runtime, merchant, FX, "eur")[1] == 9503
    assert _bal(runtime, merchant, MERCHANT_PENDING, "usd") == (0, 0, 0, 0)
    fee = legs[fee_id(pi["id"])]
    assert (fee.amount, fee.currency) == (301, "eur")  # 9503 * 2.9% = 275.6, + 25
    assert _bal(runtime, merchant, MERCHANT_PENDING, "eur") == (0, fee.amount, 0, 9503)
    assert _bal(runtime, merchant, FEES, "eur")[3] == fee.amount
    # The merchant's balance transaction: euros, the rate and its day, both amounts.
    txns = api.get("/v1/balance_transactions", params={"type": "charge"}).json()["data"]
    assert len(txns) == 1
    bt = txns[0]
    assert (bt["amount"], bt["currency"], bt["source"]) == (9503, "eur", pi["id"])
    assert (bt["fee"], bt["net"]) == (fee.amount, 9503 - fee.amount)
    assert bt["exchange_rate"] == pytest.approx(0.950299344293)
    assert bt["presentment_details"] == {
        "presentment_amount": 10_000,
        "presentment_currency": "usd",
        "exchange_rate": "0.950299344293",
        "exchange_rate_date": "2026-12-03",
        "exchange_rate_source": "ecb",
        "markup_bps": 0,
        "conversion": "converted",
    }
    bal = api.get("/v1/balance").json()
    pending = {e["currency"]: e["amount"] for e in bal["pending"]}
    assert pending["eur"] == 9503 - fee.amount
    assert pending.get("usd", 0) == 0  # (the test's own look at it opened the account)
    assert _problems(runtime) == []


def test_a_refund_converts_at_the_rate_of_its_day_and_a_failed_one_is_voided(
    api: TestClient,
    runtime: Runtime,
    merchant: Merchant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _load(runtime, tmp_path, DAY1)
    _settle_in(runtime, merchant, "eur")
    pi = _pay(api, 10_000, "usd")
    _load(runtime, tmp_path, DAY2)  # USD 1.0550 per EUR: the refund uses the new day
    r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": 4000})
    assert r.status_code == 200, r.text
    re_id = r.json()["id"]
    legs = _transfers(runtime, merchant, refund_id(re_id), refund_conversion_id(re_id))
    hold, back = legs[refund_id(re_id)], legs[refund_conversion_id(re_id)]
    assert (hold.amount, hold.currency) == (4000, "usd")
    assert (back.amount, back.currency) == (3791, "eur")  # 40 / 1.0550 = 37.9146…
    assert back.metadata["exchange_rate_date"] == "2026-12-04"
    assert _bal(runtime, merchant, REFUNDS, "usd")[3] == 4000
    refunds = api.get("/v1/balance_transactions", params={"type": "refund"}).json()["data"]
    assert [(t["amount"], t["currency"], t["source"]) for t in refunds] == [(-3791, "eur", re_id)]
    # A refund the gateway refuses: the hold and its conversion are both voided.
    before = _bal(runtime, merchant, MERCHANT_PENDING, "eur")

    def refuse(_request: Any) -> Any:
        raise TerminalError("refused by the test", gateway_code="refund_declined")

    assert runtime.simulator is not None
    monkeypatch.setattr(runtime.simulator, "process_refund", refuse)
    r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": 1000})
    failed = r.json() if r.status_code == 200 else error_of(r, r.status_code)
    assert _bal(runtime, merchant, MERCHANT_PENDING, "eur") == before, failed
    assert _problems(runtime) == []


def test_without_a_rate_the_capture_settles_in_its_own_currency(
    api: TestClient, runtime: Runtime, merchant: Merchant, tmp_path: Path
) -> None:
    _settle_in(runtime, merchant, "eur")  # no rates loaded at all
    pi = _pay(api, 2500, "usd")
    assert pi["status"] == "succeeded"  # a capture is never refused for want of a rate
    conv = _transfers(runtime, merchant, conversion_id(pi["id"]))[conversion_id(pi["id"])]
    assert (conv.amount, conv.currency) == (2500, "usd")
    assert conv.metadata["conversion"] == "unavailable"
    r = api.post("/v1/refunds", data={"payment_intent": pi["id"], "amount": 500})
    assert r.status_code == 200, r.text
    re_id = r.json()["id"]
    found = _transfers(runtime, merchant, refund_id(re_id), refund_conversion_id(re_id))
    assert set(found) == {refund_id(re_id)}  # its refunds do not convert either
    assert _problems(runtime) == []


def test_an_authorization_waits_in_the_fx_account_and_a_cancel_releases_it(
    api: TestClient, runtime: Runtime, merchant: Merchant, tmp_path: Path
) -> None:
    _load(runtime, tmp_path, DAY1)
    _settle_in(runtime, merchant, "gbp")
    held = _pay(api, 3000, "jpy", manual=True)
    auth = _transfers(runtime, merchant, authorization_id(held["id"]))[authorization_id(held["id"])]
    assert (auth.kind, auth.currency) == ("pending", "jpy")
    assert _bal(runtime, merchant, FX, "jpy")[2] == 3000
    assert api.post(f"/v1/payment_intents/{held['id']}/cancel").status_code == 200
    assert _bal(runtime, merchant, FX, "jpy")[2] == 0
    captured = _pay(api, 3000, "jpy", manual=True)
    r = api.post(f"/v1/payment_intents/{captured['id']}/capture")
    assert r.status_code == 200, r.text
    conv = _transfers(runtime, merchant, conversion_id(captured["id"]))[
        conversion_id(captured["id"])
    ]
    # ¥3000 at 0.83145 / 158.12 GBP per JPY = £15.77504…: 1578 pence
    assert (conv.amount, conv.currency) == (1578, "gbp")
    assert _problems(runtime) == []


def test_same_currency_and_cleared_settlement_change_nothing(
    api: TestClient, runtime: Runtime, merchant: Merchant, tmp_path: Path
) -> None:
    _load(runtime, tmp_path, DAY1)
    _settle_in(runtime, merchant, "usd")
    pi = _pay(api, 1000, "usd")
    assert _transfers(runtime, merchant, conversion_id(pi["id"])) == {}
    _settle_in(runtime, merchant, None)
    assert api.get("/v1/account").json()["default_currency"] is None
    pi = _pay(api, 1000, "eur")
    assert _transfers(runtime, merchant, conversion_id(pi["id"])) == {}
    assert _bal(runtime, merchant, MERCHANT_PENDING, "eur")[3] == 1000
    assert _problems(runtime) == []


def test_a_conversion_rewritten_behind_the_ledgers_back_is_found(
    api: TestClient, runtime: Runtime, merchant: Merchant, tmp_path: Path
) -> None:
    from ledger.test_verify import _set

    _load(runtime, tmp_path, DAY1)
    _settle_in(runtime, merchant, "eur")
    pi = _pay(api, 10_000, "usd")
    _set(runtime, "payment_intents", pi["id"], status="canceled", amount_received=0)
    problems = _problems(runtime)
    wanted = f"{conversion_id(pi['id'])} exists but the payment is canceled with no capture"
    assert any(p.endswith(wanted) for p in problems), problems
