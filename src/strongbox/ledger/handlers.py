"""Posting rules: payment events become ledger transfers, in the payment's transaction.

Transfer ids derive from the object and the step (``sb.pi_….capture``), so a re-run of a
rule returns the transfers already written instead of posting twice. A rule that cannot post
raises, and the payment write it belongs to rolls back with it.

======================================  ====================================================
event                                   transfers
======================================  ====================================================
``payment_intent.amount_capturable_…``  pending: gateway_receivable → merchant_pending
``payment_intent.succeeded``            post the pending one with ``amount_received`` (the
                                        rest is released), or a posted transfer when there
                                        was no authorization; then the fee, merchant_pending
                                        → fees (linked: both or neither)
``payment_intent.canceled``             void the authorization, if there is one
``refund.created``                      pending: merchant_pending → refunds
``refund.updated`` (status succeeded)   post the refund's pending transfer
``refund.failed``                       void it
======================================  ====================================================
"""

from __future__ import annotations

import logging
from typing import Any

from strongbox.core.errors import LedgerInvariantError
from strongbox.db.uow import UnitOfWork
from strongbox.events.dispatcher import EventDispatcher
from strongbox.events.types import DomainEvent
from strongbox.ledger.fees import Fees
from strongbox.ledger.models import (
    FEES,
    GATEWAY_RECEIVABLE,
    KIND_PENDING,
    KIND_POST,
    KIND_POSTED,
    KIND_VOID,
    MERCHANT_PENDING,
    REFUNDS,
    SYSTEM_FLAGS,
)
from strongbox.ledger.service import RESERVED_PREFIX, LedgerService, TransferRequest

log = logging.getLogger(__name__)

CODE_AUTHORIZATION = "authorization"
CODE_CHARGE = "charge"
CODE_FEE = "fee"
CODE_REFUND = "refund"


def authorization_id(pi_id: str) -> str:
    return f"{RESERVED_PREFIX}{pi_id}.authorization"


def capture_id(pi_id: str) -> str:
    return f"{RESERVED_PREFIX}{pi_id}.capture"


def fee_id(pi_id: str) -> str:
    return f"{RESERVED_PREFIX}{pi_id}.fee"


def void_id(pi_id: str) -> str:
    return f"{RESERVED_PREFIX}{pi_id}.void"


def refund_id(re_id: str) -> str:
    return f"{RESERVED_PREFIX}{re_id}.refund"


def refund_post_id(re_id: str) -> str:
    return f"{RESERVED_PREFIX}{re_id}.refund.post"


def refund_void_id(re_id: str) -> str:
    return f"{RESERVED_PREFIX}{re_id}.refund.void"


class PostingRules:
    def __init__(self, ledger: LedgerService, fees: Fees) -> None:
        self.ledger = ledger
        self.fees = fees

    def register(self, dispatcher: EventDispatcher) -> None:
        dispatcher.subscribe(
            "payment_intent.amount_capturable_updated", self.on_authorized, name="ledger"
        )
        dispatcher.subscribe("payment_intent.succeeded", self.on_succeeded, name="ledger")
        dispatcher.subscribe("payment_intent.canceled", self.on_canceled, name="ledger")
        dispatcher.subscribe("refund.created", self.on_refund_created, name="ledger")
        dispatcher.subscribe("refund.updated", self.on_refund_updated, name="ledger")
        dispatcher.subscribe("refund.failed", self.on_refund_failed, name="ledger")

    def _account(self, uow: UnitOfWork, merchant_id: str, purpose: str, currency: str) -> str:
        flags = SYSTEM_FLAGS.get(purpose, 0)
        return self.ledger.system_account(uow, merchant_id, purpose, currency, flags).id

    def _post(self, uow: UnitOfWork, event: DomainEvent, reqs: list[TransferRequest]) -> None:
        results = self.ledger.create_transfers(uow, event.merchant_id, reqs, allow_reserved=True)
        for res in results:
            if res.error is not None:
                log.error(
                    "ledger posting for %s %s failed: %s %s",
                    event.type,
                    event.resource_id,
                    res.error.code,
                    res.error.message,
                )
                raise LedgerInvariantError(
                    "The ledger could not record this payment's money movement; nothing was "
                    "changed. Please try again or contact the operator."
                )

    # ---- payment intents

    def on_authorized(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        amount = int(pi.get("amount_capturable") or 0)
        if pi.get("status") != "requires_capture" or amount <= 0:
            return
        cur = str(pi["currency"]).lower()
        m = event.merchant_id
        self._post(
            uow,
            event,
            [
                TransferRequest(
                    id=authorization_id(pi["id"]),
                    kind=KIND_PENDING,
                    debit_account_id=self._account(uow, m, GATEWAY_RECEIVABLE, cur),
                    credit_account_id=self._account(uow, m, MERCHANT_PENDING, cur),
                    amount=amount,
                    currency=cur,
                    code=CODE_AUTHORIZATION,
                    source=pi["id"],
                )
            ],
        )

    def on_succeeded(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        received = int(pi.get("amount_received") or 0)
        if received <= 0:
            return
        cur = str(pi["currency"]).lower()
        m = event.merchant_id
        receivable = self._account(uow, m, GATEWAY_RECEIVABLE, cur)
        pending = self._account(uow, m, MERCHANT_PENDING, cur)
        auth = authorization_id(pi["id"])
        has_auth = bool(self.ledger.find_transfers(uow.session, m, [auth]))
        fee = self.fees.fee_for(uow, m, cur, received)
        capture = TransferRequest(
            id=capture_id(pi["id"]),
            kind=KIND_POST if has_auth else KIND_POSTED,
            debit_account_id=receivable,
            credit_account_id=pending,
            amount=received,
            currency=cur,
            pending_id=auth if has_auth else None,
            code=CODE_CHARGE,
            source=pi["id"],
            linked=fee > 0,
        )
        reqs = [capture]
        if fee > 0:
            reqs.append(
                TransferRequest(
                    id=fee_id(pi["id"]),
                    debit_account_id=pending,
                    credit_account_id=self._account(uow, m, FEES, cur),
                    amount=fee,
                    currency=cur,
                    code=CODE_FEE,
                    source=pi["id"],
                )
            )
        self._post(uow, event, reqs)

    def on_canceled(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        auth = authorization_id(pi["id"])
        if not self.ledger.find_transfers(uow.session, event.merchant_id, [auth]):
            return  # canceled before any authorization: no money moved
        self._post(
            uow,
            event,
            [
                TransferRequest(
                    id=void_id(pi["id"]),
                    kind=KIND_VOID,
                    pending_id=auth,
                    code=CODE_AUTHORIZATION,
                    source=pi["id"],
                )
            ],
        )

    # ---- refunds

    def on_refund_created(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        cur = str(refund["currency"]).lower()
        m = event.merchant_id
        self._post(
            uow,
            event,
            [
                TransferRequest(
                    id=refund_id(refund["id"]),
                    kind=KIND_PENDING,
                    debit_account_id=self._account(uow, m, MERCHANT_PENDING, cur),
                    credit_account_id=self._account(uow, m, REFUNDS, cur),
                    amount=int(refund["amount"]),
                    currency=cur,
                    code=CODE_REFUND,
                    source=refund["id"],
                )
            ],
        )

    def on_refund_updated(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        if refund.get("status") != "succeeded":
            return  # a metadata update of a pending refund moves no money
        self._post(
            uow,
            event,
            [
                TransferRequest(
                    id=refund_post_id(refund["id"]),
                    kind=KIND_POST,
                    pending_id=refund_id(refund["id"]),
                    code=CODE_REFUND,
                    source=refund["id"],
                )
            ],
        )

    def on_refund_failed(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        self._post(
            uow,
            event,
            [
                TransferRequest(
                    id=refund_void_id(refund["id"]),
                    kind=KIND_VOID,
                    pending_id=refund_id(refund["id"]),
                    code=CODE_REFUND,
                    source=refund["id"],
                )
            ],
        )
