"""Closing windows into settlement batches, and their settlement files.

A window closes once, when its end has passed: its row is locked (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so any number of closers can run), marked closed and turned into one batch
(``uq_settlement_batches_window``) in one transaction with:

- the ledger transfer ``sb.<window>.settle`` moving the window's net (plus any negative
  remainder carried from the merchant's earlier batches in that currency) from
  ``merchant_pending`` to ``merchant_available``; a net at or below zero moves nothing and is
  carried into the next batch (``settlement_carries``);
- the settlement file's SHA-256: a CSV of the window's entries, built from the database alone
  (the same bytes however often it is built), written under the settlement directory after
  the commit; ``files.ensure`` writes any that is missing;
- an audit leaf (``strongbox.settlement.batch_closed``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from strongbox.core.clock import to_unix
from strongbox.core.errors import LedgerInvariantError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.ledger.models import (
    CODE_SETTLEMENT,
    MERCHANT_AVAILABLE,
    MERCHANT_PENDING,
    SYSTEM_FLAGS,
)
from strongbox.ledger.service import RESERVED_PREFIX, LedgerService, TransferRequest
from strongbox.settlement import repository as repo
from strongbox.settlement.models import SettlementBatch, SettlementEntry, SettlementWindow

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "batch",
    "window_start",
    "window_end",
    "event",
    "event_time",
    "late",
    "kind",
    "source",
    "ledger_transfer",
    "amount",
    "currency",
)


def settle_id(window_id: str) -> str:
    return f"{RESERVED_PREFIX}{window_id}.settle"


def render_csv(batch_id: str, w: SettlementWindow, entries: list[SettlementEntry]) -> bytes:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for e in entries:
        out.writerow(
            (
                batch_id,
                to_unix(w.start),
                to_unix(w.end),
                e.event_id,
                to_unix(e.event_time),
                "true" if e.late else "false",
                e.kind,
                e.source or "",
                e.transfer_id,
                e.amount,
                e.currency,
            )
        )
    return buf.getvalue().encode()


def file_name(merchant_id: str, batch_id: str, start: datetime) -> str:
    return f"{merchant_id}/{start.strftime('%Y%m%dT%H%M%SZ')}-{batch_id}.csv"


@dataclass(frozen=True, slots=True)
class Closed:
    batch_id: str
    merchant_id: str
    currency: str
    window_end: datetime
    net: int
    settled: int
    file_name: str


def close_due(
    uow: UnitOfWork, ledger: LedgerService, *, directory: Path | None, limit: int = 200
) -> list[Closed]:
    """Close every window whose end has passed (up to ``limit``); what was closed."""
    now = uow.clock.now()
    return [
        close_window(uow, ledger, w, directory=directory)
        for w in repo.due_windows(uow.session, now, limit)
    ]


def close_window(
    uow: UnitOfWork, ledger: LedgerService, w: SettlementWindow, *, directory: Path | None
) -> Closed:
    session = uow.session
    now = uow.clock.now()
    m, cur = w.merchant_id, w.currency
    carry = repo.carry_locked(session, m, cur, now)
    carried_in = carry.amount
    total = w.net + carried_in
    settled = max(total, 0)
    batch_id = new_id("settlement_batch")
    transfer_id: str | None = None
    if settled > 0:
        pending = ledger.system_account(uow, m, MERCHANT_PENDING, cur)
        available = ledger.system_account(
            uow, m, MERCHANT_AVAILABLE, cur, SYSTEM_FLAGS.get(MERCHANT_AVAILABLE, 0)
        )
        transfer_id = settle_id(w.id)
        results = ledger.create_transfers(
            uow,
            m,
            [
                TransferRequest(
                    id=transfer_id,
                    debit_account_id=pending.id,
                    credit_account_id=available.id,
                    amount=settled,
                    currency=cur,
                    code=CODE_SETTLEMENT,
                    source=batch_id,
                    metadata={"window": w.id},
                )
            ],
            allow_reserved=True,
            accounts=[pending, available],
        )
        if results[0].error is not None:
            log.error("settling window %s failed: %s", w.id, results[0].error.code)
            raise LedgerInvariantError("The ledger refused a settlement transfer.")
    carry.amount = total - settled
    carry.updated = now
    entries = repo.window_entries(session, m, w.id)
    body = render_csv(batch_id, w, entries)
    digest = hashlib.sha256(body).hexdigest()
    name = file_name(m, batch_id, w.start)
    session.add(
        SettlementBatch(
            id=batch_id,
            merchant_id=m,
            window_id=w.id,
            currency=cur,
            window_start=w.start,
            window_end=w.end,
            count=w.count,
            late_count=w.late_count,
            gross=w.gross,
            fees=w.fees,
            refunds=w.refunds,
            net=w.net,
            carried_in=carried_in,
            settled=settled,
            carried_out=total - settled,
            transfer_id=transfer_id,
            file_name=name,
            file_sha256=digest,
            closed_at=now,
        )
    )
    repo.mark_closed(session, w.id)
    raise_event(
        uow,
        RequestContext(merchant_id=m, actor="system:settlement"),
        "strongbox.settlement.batch_closed",
        "settlement_batch",
        batch_id,
        {
            "id": batch_id,
            "window": w.id,
            "currency": cur,
            "window_start": to_unix(w.start),
            "window_end": to_unix(w.end),
            "count": w.count,
            "late_count": w.late_count,
            "net": w.net,
            "carried_in": carried_in,
            "settled": settled,
            "file_sha256": digest,
        },
    )
    if directory is not None:
        target = directory / name
        uow.after_commit(lambda: write_file(target, body))
    return Closed(batch_id, m, cur, w.end, w.net, settled, name)


def write_file(target: Path, body: bytes) -> None:
    """Write a settlement file (0600, via a temporary name: never half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(body)
    tmp.chmod(0o600)
    tmp.replace(target)


def rebuild_file(uow: UnitOfWork, batch: SettlementBatch) -> bytes:
    """A batch's settlement file, built again from the database (the same bytes)."""
    w = SettlementWindow(
        id=batch.window_id,
        start=batch.window_start,
        end=batch.window_end,
    )
    entries = repo.window_entries(uow.session, batch.merchant_id, batch.window_id)
    return render_csv(batch.id, w, entries)
