"""The settlement consumer: money events into tumbling windows, per merchant and currency.

Money events are the ones after which the posting rules have moved money on the merchant's
pending balance: ``payment_intent.succeeded`` (the capture, and its fee) and ``refund.updated``
(a refund that succeeded). The amounts are the ledger's own transfers (read by their ids,
``ledger/handlers.py``), one entry each, so that what settles is exactly what the ledger holds.

Windows are ``[start, start + length)`` of event time (the event's ``created``). Grace is
zero: once a window's end has passed it takes nothing more. An event whose window has ended
when it arrives goes into the window open at its arrival, marked ``late``; it never reopens a
closed window. The window row is locked while entries are added to it, and the closer locks it
to close it, so an entry is either in the window before it closes or in a later one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from strongbox.db.uow import UnitOfWork
from strongbox.events.bus import Envelope
from strongbox.events.consumer import Consumer
from strongbox.events.types import RequestContext, raise_event
from strongbox.ledger.conversion import conversion_id, refund_conversion_post_id
from strongbox.ledger.handlers import (
    CODE_CHARGE,
    CODE_FEE,
    CODE_REFUND,
    capture_id,
    fee_id,
    refund_post_id,
)
from strongbox.ledger.models import KIND_POST, KIND_POSTED, MERCHANT_PENDING
from strongbox.ledger.service import LedgerService, Transfer
from strongbox.settlement import repository as repo
from strongbox.settlement.models import WINDOW_CLOSED

CONSUMER = "settlement"
MONEY_EVENTS = ("payment_intent.succeeded", "refund.updated")
KINDS = {CODE_CHARGE: "charge", CODE_FEE: "fee", CODE_REFUND: "refund"}


def window_start(t: datetime, length: int) -> datetime:
    """The start of the window of length ``length`` seconds that ``t`` falls in."""
    ts = int(t.timestamp())
    return datetime.fromtimestamp(ts - ts % length, tz=UTC)


def transfer_ids(envelope: Envelope) -> list[str]:
    obj: dict[str, Any] = envelope.get("data", {}).get("object", {})
    oid = str(obj.get("id", ""))
    # A payment converted into the merchant's settlement currency (ledger/conversion.py)
    # reaches the pending balance through its conversion leg, not its capture; the rest
    # touch only the FX account and count for nothing here (``_signed``).
    if envelope["type"] == "payment_intent.succeeded":
        return [capture_id(oid), conversion_id(oid), fee_id(oid)]
    if envelope["type"] == "refund.updated" and obj.get("status") == "succeeded":
        return [refund_post_id(oid), refund_conversion_post_id(oid)]
    return []


@dataclass(frozen=True, slots=True)
class Placement:
    start: datetime
    late: bool


def place(event_time: datetime, now: datetime, length: int) -> Placement:
    """Where an event arriving at ``now`` goes (before looking at the window's row)."""
    start = window_start(event_time, length)
    if start + timedelta(seconds=length) <= now:
        return Placement(window_start(now, length), True)
    return Placement(start, False)


class Settlement:
    def __init__(self, ledger: LedgerService, window_seconds: int = 300) -> None:
        self.ledger = ledger
        self.length = window_seconds

    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, MONEY_EVENTS, self.apply)

    def apply(self, uow: UnitOfWork, envelopes: list[Envelope]) -> None:
        by_merchant: dict[str, list[Envelope]] = defaultdict(list)
        for env in envelopes:
            if env.get("merchant_id"):
                by_merchant[str(env["merchant_id"])].append(env)
        for merchant_id, envs in by_merchant.items():
            self._apply_merchant(uow, merchant_id, envs)

    def _apply_merchant(self, uow: UnitOfWork, merchant_id: str, envs: list[Envelope]) -> None:
        session = uow.session
        wanted = {tid: env for env in envs for tid in transfer_ids(env)}
        if not wanted:
            return
        found = self.ledger.find_transfers(session, merchant_id, list(wanted))
        done = repo.recorded_transfers(session, merchant_id, list(found))
        now = uow.clock.now()
        rows: list[dict[str, Any]] = []
        sums: dict[tuple[str, datetime], dict[str, int]] = {}
        windows: dict[tuple[str, datetime], str] = {}
        for tid, env in wanted.items():
            t = found.get(tid)
            if t is None or tid in done or t.kind not in (KIND_POSTED, KIND_POST):
                continue
            amount = self._signed(uow, merchant_id, t)
            if amount == 0:
                continue
            event_time = datetime.fromtimestamp(int(env["created"]), tz=UTC)
            p = place(event_time, now, self.length)
            key, late = (t.currency, p.start), p.late
            while key not in windows:
                start = key[1]
                w = repo.window_locked(
                    session,
                    merchant_id,
                    t.currency,
                    start,
                    start + timedelta(seconds=self.length),
                    now,
                )
                if w.status == WINDOW_CLOSED:  # closed early by a closer whose clock ran ahead
                    key, late = (t.currency, w.end), True
                    continue
                windows[key] = w.id
                sums[key] = dict.fromkeys(
                    ("count", "late_count", "gross", "fees", "refunds", "net"), 0
                )
            kind = KINDS.get(t.code, "adjustment")
            s = sums[key]
            s["count"] += 1
            s["late_count"] += int(late)
            s["net"] += amount
            if kind == "charge":
                s["gross"] += amount
            elif kind == "fee":
                s["fees"] -= amount
            elif kind == "refund":
                s["refunds"] -= amount
            rows.append(
                {
                    "merchant_id": merchant_id,
                    "window_id": windows[key],
                    "transfer_id": t.id,
                    "event_id": str(env["id"]),
                    "kind": kind,
                    "source": t.source,
                    "amount": amount,
                    "currency": t.currency,
                    "event_time": event_time,
                    "late": late,
                    "created": now,
                }
            )
        if not rows:
            return
        repo.add_entries(session, rows)
        for key, window_id in windows.items():
            repo.add_to_window(session, window_id, sums[key])
        ctx = RequestContext(merchant_id=merchant_id, actor="system:settlement")
        raise_event(
            uow,
            ctx,
            "strongbox.settlement.entries_added",
            "settlement_window",
            ",".join(sorted(set(windows.values())))[:64],
            {
                "windows": sorted(set(windows.values())),
                "entries": len(rows),
                "late": sum(1 for r in rows if r["late"]),
                "events": sorted({r["event_id"] for r in rows}),
            },
        )

    def _signed(self, uow: UnitOfWork, merchant_id: str, t: Transfer) -> int:
        pending = self.ledger.system_account(uow, merchant_id, MERCHANT_PENDING, t.currency)
        if t.credit_account_id == pending.id:
            return t.amount
        if t.debit_account_id == pending.id:
            return -t.amount
        return 0
