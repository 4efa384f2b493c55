"""``/v1/payouts``, ``/v1/payout_schedule`` and ``/v1/balance_transactions?payout=`` over HTTP."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from settlement.helpers import World, world
from strongbox.cli.ledger import run_verify
from strongbox.core.settings import Settings
from strongbox.ledger.models import LedgerTransfer
from strongbox.workers.settlement import close_once, payouts_once
from support import error_of, make_merchant

FIVE = timedelta(minutes=5)


def _settled(w: World, amount: int) -> None:
    w.pay(amount)
    w.relay()
    w.clock.advance(FIVE)
    assert close_once(w.rt) == 1


def _events(w: World, prefix: str) -> list[str]:
    w.relay()
    data = w.api.get("/v1/events", params={"type": f"{prefix}*", "limit": 100}).json()["data"]
    return sorted(e["type"] for e in data)


def _paid_transfers(w: World) -> int:
    with w.rt.db.read() as s:
        return int(
            s.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerTransfer)
                .where(LedgerTransfer.id.like("sb.po\\_%.paid", escape="\\"))
            )
            or 0
        )


def test_a_manual_payout_holds_the_available_balance_and_can_be_canceled_while_pending(
    settings: Settings,
) -> None:
    with world(settings) as w:
        _settled(w, 10_000)
        assert w.balance() == (0, 10_000)
        r = w.api.post("/v1/payouts", data={"amount": "4000", "currency": "usd"})
        assert r.status_code == 200, r.text
        po = r.json()
        assert (po["object"], po["status"], po["amount"], po["automatic"]) == (
            "payout",
            "pending",
            4_000,
            False,
        )
        assert po["id"].startswith("po_")
        assert w.balance() == (0, 6_000)
        too_much = w.api.post("/v1/payouts", data={"amount": "6001", "currency": "usd"})
        assert error_of(too_much, 400)["code"] == "balance_insufficient"
        assert w.balance() == (0, 6_000)  # nothing changed
        assert w.api.get(f"/v1/payouts/{po['id']}").json()["status"] == "pending"
        listed = w.api.get("/v1/payouts", params={"status": "pending"}).json()
        assert [p["id"] for p in listed["data"]] == [po["id"]]
        canceled = w.api.post(f"/v1/payouts/{po['id']}/cancel")
        assert canceled.json()["status"] == "canceled"
        assert w.balance() == (0, 10_000)
        again = w.api.post(f"/v1/payouts/{po['id']}/cancel")
        assert error_of(again, 400)["code"] == "payout_not_cancelable"
        assert _events(w, "payout.") == ["payout.canceled", "payout.created"]
        assert run_verify(w.rt).ok


def test_a_payout_is_paid_once_on_its_arrival_date(settings: Settings) -> None:
    with world(settings) as w:
        _settled(w, 5_000)
        po = w.api.post("/v1/payouts", data={"amount": "5000", "currency": "usd"}).json()
        assert payouts_once(w.rt) == 0  # arrives tomorrow
        w.clock.advance(timedelta(days=1))
        assert payouts_once(w.rt) == 1
        assert payouts_once(w.rt) == 0
        assert w.api.get(f"/v1/payouts/{po['id']}").json()["status"] == "paid"
        assert _paid_transfers(w) == 1
        assert w.balance() == (0, 0)
        cancel = w.api.post(f"/v1/payouts/{po['id']}/cancel")
        assert error_of(cancel, 400)["code"] == "payout_not_cancelable"
        assert _events(w, "payout.") == ["payout.created", "payout.paid"]
        assert run_verify(w.rt).ok


def test_a_failed_payout_returns_its_funds(settings: Settings) -> None:
    with world(settings) as w:
        _settled(w, 3_000)
        r = w.api.post(
            "/v1/payouts",
            data={"amount": "3000", "currency": "usd", "destination": "ba_closed_fail"},
        )
        po = r.json()
        w.clock.advance(timedelta(days=1))
        assert payouts_once(w.rt) == 1
        got = w.api.get(f"/v1/payouts/{po['id']}").json()
        assert (got["status"], got["failure_code"]) == ("failed", "account_closed")
        assert w.balance() == (0, 3_000)
        assert _events(w, "payout.") == ["payout.created", "payout.failed"]
        assert run_verify(w.rt).ok


def test_a_daily_schedule_sweeps_settled_batches_once_a_day(settings: Settings) -> None:
    with world(settings, ledger_fee_bps=100) as w:
        assert w.api.get("/v1/payout_schedule").json()["interval"] == "manual"
        r = w.api.post(
            "/v1/payout_schedule",
            data={"interval": "daily", "delay_days": "0", "destination": "ba_main"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["interval"] == "daily"
        _settled(w, 10_000)
        assert payouts_once(w.rt) == 2  # created, then paid (arrival: now)
        assert payouts_once(w.rt) == 0  # one automatic payout per day
        [po] = w.api.get("/v1/payouts").json()["data"]
        assert (po["automatic"], po["amount"], po["status"]) == (True, 9_900, "paid")
        assert po["destination"] == "ba_main"
        txns = w.api.get("/v1/balance_transactions", params={"payout": po["id"]}).json()["data"]
        assert sorted(t["type"] for t in txns) == ["charge", "payout"]
        charge = next(t for t in txns if t["type"] == "charge")
        assert (charge["amount"], charge["fee"], charge["net"]) == (10_000, 100, 9_900)
        _settled(w, 2_000)
        assert payouts_once(w.rt) == 0  # today's run is done
        w.clock.advance(timedelta(days=1))
        assert payouts_once(w.rt) == 2
        assert w.balance() == (0, 0)
        assert run_verify(w.rt).ok


def test_bad_input_and_other_merchants_payouts_are_refused(settings: Settings) -> None:
    with world(settings) as w:
        _settled(w, 1_000)
        po = w.api.post("/v1/payouts", data={"amount": "1000", "currency": "usd"}).json()
        for data in (
            {"amount": "-1", "currency": "usd"},
            {"amount": "x", "currency": "usd"},
            {"amount": "10", "currency": "us1"},
            {"amount": "10"},
            {"amount": "10", "currency": "usd", "method": "teleport"},
        ):
            error_of(w.api.post("/v1/payouts", data=data), 400)
        error_of(w.api.post("/v1/payout_schedule", data={"interval": "hourly"}), 400)
        error_of(w.api.post("/v1/payout_schedule", data={"interval": "daily", "delay_days": "31"}))
        error_of(w.api.get("/v1/payouts/po_missing"), 404)
        other = make_merchant(w.rt, "Other")
        theirs = w.api.get(f"/v1/payouts/{po['id']}", headers=other.headers)
        error_of(theirs, 404)
        error_of(w.api.post(f"/v1/payouts/{po['id']}/cancel", headers=other.headers), 404)
        missing = w.api.get("/v1/balance_transactions", params={"payout": "po_missing"})
        error_of(missing, 404)
        assert w.api.get(f"/v1/payouts/{po['id']}").json()["status"] == "pending"
