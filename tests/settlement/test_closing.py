"""Settlement end to end on the in-process bus: payments -> windows -> batches -> ledger."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from fx.fx_helpers import DAY1, ecb_xml
from settlement.helpers import world
from strongbox.auth import account
from strongbox.cli.ledger import run_verify
from strongbox.core.settings import Settings
from strongbox.events.types import RequestContext
from strongbox.fx import service as fx_service
from strongbox.fx.providers import EcbFile
from strongbox.settlement.closing import rebuild_file
from strongbox.workers.settlement import close_once, settlement_dir

FIVE = timedelta(minutes=5)


def test_a_window_closes_once_into_a_batch_that_moves_its_net_to_available(
    settings: Settings,
) -> None:
    with world(settings, ledger_fee_bps=100) as w:
        pi = w.pay(10_000)
        w.pay(5_000)
        w.refund(pi, 2_000)
        w.relay()
        pending, available = w.balance()
        assert (pending, available) == (10_000 + 5_000 - 150 - 2_000, 0)
        entries = w.entries()
        assert sorted(e.kind for e in entries) == ["charge", "charge", "fee", "fee", "refund"]
        assert close_once(w.rt) == 0  # the window [12:00, 12:05) has not ended
        w.clock.advance(FIVE)
        assert close_once(w.rt) == 1
        assert close_once(w.rt) == 0  # exactly once
        [batch] = w.batches()
        assert (batch.gross, batch.fees, batch.refunds) == (15_000, 150, 2_000)
        assert batch.net == batch.settled == 12_850
        assert batch.count == 5
        assert batch.late_count == 0
        assert w.balance() == (0, 12_850)
        body = (settlement_dir(w.rt) / batch.file_name).read_bytes()
        assert hashlib.sha256(body).hexdigest() == batch.file_sha256
        assert body.count(b"\n") == 1 + 5  # header and one line per entry
        with w.rt.db.unit_of_work() as uow:
            assert rebuild_file(uow, batch) == body  # the same bytes, from the database
        report = run_verify(w.rt)
        assert report.ok, report.problems


def test_an_event_after_its_window_ended_goes_late_into_the_open_window(
    settings: Settings,
) -> None:
    with world(settings) as w:
        w.pay(1_000)  # created at 12:01, relayed only at 12:07: its window has ended
        w.clock.advance(timedelta(minutes=6))
        w.relay()
        [entry] = w.entries()
        assert entry.late
        assert close_once(w.rt) == 0  # it sits in [12:05, 12:10), open until 12:10
        w.pay(500)
        w.relay()
        w.clock.advance(FIVE)
        assert close_once(w.rt) == 1
        [batch] = w.batches()
        assert batch.late_count == 1
        assert batch.count == 2
        assert batch.window_start.minute == 5
        assert batch.net == 1_500


def test_a_window_with_a_negative_net_carries_it_into_the_next_batch(settings: Settings) -> None:
    with world(settings) as w:
        pi = w.pay(3_000)
        w.relay()
        w.clock.advance(FIVE)
        assert close_once(w.rt) == 1
        w.refund(pi, 2_500)
        w.relay()
        w.clock.advance(FIVE)
        assert close_once(w.rt) == 1
        w.pay(1_000)
        w.relay()
        w.clock.advance(FIVE)
        assert close_once(w.rt) == 1
        first, second, third = w.batches()
        assert (first.net, first.settled, first.carried_out) == (3_000, 3_000, 0)
        assert (second.net, second.settled, second.carried_out) == (-2_500, 0, -2_500)
        assert (third.carried_in, third.net, third.settled) == (-2_500, 1_000, 0)
        assert third.carried_out == -1_500
        # Everything captured minus refunded is either available or still owed by pending.
        pending, available = w.balance()
        assert available == sum(b.settled for b in w.batches()) == 3_000
        assert pending + available == 3_000 - 2_500 + 1_000


def test_a_redelivered_event_is_applied_once(settings: Settings) -> None:
    from sqlalchemy import update

    from strongbox.events.models import OutboxEvent

    with world(settings) as w:
        w.pay(700)
        w.relay()
        with w.rt.db.unit_of_work() as uow:  # as if the relay died before marking them
            uow.session.execute(update(OutboxEvent).values(published_at=None, claimed_until=None))
            uow.commit()
        assert w.relay() == 2
        assert len(w.entries()) == 1
        w.clock.advance(FIVE)
        close_once(w.rt)
        assert [b.net for b in w.batches()] == [700]


def test_a_converted_payment_settles_in_the_settlement_currency(
    settings: Settings, tmp_path: Path
) -> None:
    """A dollar payment of a merchant paid in euros: the window and the batch are in euros,
    through the conversion legs (ledger/conversion.py); nothing settles in dollars."""
    with world(settings) as w:
        path = tmp_path / "rates.xml"
        path.write_text(ecb_xml(DAY1))  # USD 1.0523 per EUR
        fx_service.load(w.rt.db, EcbFile(path), w.rt.fx)
        with w.rt.db.unit_of_work() as uow:
            account.set_settlement_currency(
                uow, RequestContext(merchant_id=w.merchant.id, actor="test"), w.merchant.id, "eur"
            )
            uow.commit()
        w.rt.key_cache.clear()
        pi = w.pay(10_000)  # €95.03
        w.refund(pi, 1_000)  # $10 at the same day's rate: €9.50
        w.relay()
        entries = w.entries()
        assert {e.currency for e in entries} == {"eur"}
        assert sorted((e.kind, e.amount) for e in entries) == [("charge", 9503), ("refund", -950)]
        w.clock.advance(FIVE)
        assert close_once(w.rt) == 1
        [batch] = w.batches()
        assert (batch.currency, batch.net) == ("eur", 9503 - 950)
        report = run_verify(w.rt)
        assert report.ok, report.problems
