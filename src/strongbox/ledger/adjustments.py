"""Posting rule for reconciliation: a resolved exception's adjustment becomes one transfer.

``reconciliation.exception.resolved`` carries, when the resolution moves money, an
adjustment: ``target`` (``amount`` or ``fee``), ``amount`` (the gateway's figure minus ours,
signed, minor units), ``currency``, ``counter`` (``accept`` or ``write_off``), ``source``
and ``transfer_id`` (``sb.rcx_….resolution``). The transfer is posted in the resolution's
transaction; a failure aborts the resolution with it.

=========  ==========  ==============================  ==============================
target     counter     gateway figure higher (Δ > 0)   gateway figure lower (Δ < 0)
=========  ==========  ==============================  ==============================
amount     accept      gateway_receivable → reconc.    reconciliation → gateway_rec.
amount     write_off   gateway_receivable → write_offs write_offs → gateway_receivable
fee        accept      merchant_pending → fees         fees → merchant_pending
fee        write_off   write_offs → fees               fees → write_offs
=========  ==========  ==============================  ==============================

(``a → b``: debit ``a``, credit ``b``.) An amount difference changes what the gateway owes;
a fee difference, accepted, is charged to (or given back to) the merchant like the fee
itself, and written off, is borne by the platform.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from strongbox.core.errors import LedgerInvariantError
from strongbox.db.uow import UnitOfWork
from strongbox.events.dispatcher import EventDispatcher
from strongbox.events.types import DomainEvent
from strongbox.ledger.models import (
    FEES,
    GATEWAY_RECEIVABLE,
    KIND_POSTED,
    MERCHANT_PENDING,
    RECONCILIATION,
    SYSTEM_FLAGS,
    WRITE_OFFS,
)
from strongbox.ledger.service import LedgerService, TransferRequest

log = logging.getLogger(__name__)

CODE_RECONCILIATION: Final = "reconciliation"

#: (target, counter) -> (debit, credit) purposes when the gateway's figure is higher.
_UP: Final = {
    ("amount", "accept"): (GATEWAY_RECEIVABLE, RECONCILIATION),
    ("amount", "write_off"): (GATEWAY_RECEIVABLE, WRITE_OFFS),
    ("fee", "accept"): (MERCHANT_PENDING, FEES),
    ("fee", "write_off"): (WRITE_OFFS, FEES),
}
#: Every (debit, credit) pair an adjustment may post (``ledger verify`` checks them).
ADJUSTMENT_PAIRS: Final = frozenset(_UP.values()) | frozenset((c, d) for d, c in _UP.values())


class AdjustmentRules:
    def __init__(self, ledger: LedgerService) -> None:
        self.ledger = ledger

    def register(self, dispatcher: EventDispatcher) -> None:
        dispatcher.subscribe(
            "reconciliation.exception.resolved", self.on_resolved, name="ledger", reads_db=False
        )

    def on_resolved(self, uow: UnitOfWork, event: DomainEvent) -> None:
        adj: dict[str, Any] | None = event.extra.get("adjustment")
        if not adj:
            return  # resolved as timing: no money moves
        delta = int(adj["amount"])
        pair = _UP[(str(adj["target"]), str(adj["counter"]))]
        debit, credit = pair if delta > 0 else (pair[1], pair[0])
        cur = str(adj["currency"]).lower()
        m = event.merchant_id
        accounts = [
            self.ledger.system_account(uow, m, p, cur, SYSTEM_FLAGS.get(p, 0))
            for p in (debit, credit)
        ]
        req = TransferRequest(
            id=str(adj["transfer_id"]),
            kind=KIND_POSTED,
            debit_account_id=accounts[0].id,
            credit_account_id=accounts[1].id,
            amount=abs(delta),
            currency=cur,
            code=CODE_RECONCILIATION,
            source=str(adj["source"])[:64],
            metadata={"reconciliation_exception": event.resource_id},
        )
        (res,) = self.ledger.create_transfers(
            uow, m, [req], allow_reserved=True, known={}, accounts=accounts
        )
        if res.error is not None:
            log.error(
                "reconciliation adjustment for %s failed: %s %s",
                event.resource_id,
                res.error.code,
                res.error.message,
            )
            raise LedgerInvariantError(
                "The ledger could not record this resolution's adjustment; nothing was "
                "changed. Please try again or contact the operator."
            )
