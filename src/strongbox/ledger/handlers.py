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
from strongbox.ledger.service import (
    RESERVED_PREFIX,
    AccountInfo,
    LedgerService,
    Transfer,
    TransferRequest,
)

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
        # The rules read only the ledger's own tables (accounts, transfers, fee schedules),
        # never a row the payment wrote: no flush of the payment's writes before them.
        for pattern, handler in (
            ("payment_intent.amount_capturable_updated", self.on_authorized),
            ("payment_intent.succeeded", self.on_succeeded),
            ("payment_intent.canceled", self.on_canceled),
            ("refund.created", self.on_refund_created),
            ("refund.updated", self.on_refund_updated),
            ("refund.failed", self.on_refund_failed),
        ):
            dispatcher.subscribe(pattern, handler, name="ledger", reads_db=False)

    def _account(
        self, uow: UnitOfWork, merchant_id: str, purpose: str, currency: str
    ) -> AccountInfo:
        flags = SYSTEM_FLAGS.get(purpose, 0)
        return self.ledger.system_account(uow, merchant_id, purpose, currency, flags)

    def _post(
        self,
        uow: UnitOfWork,
        event: DomainEvent,
        reqs: list[TransferRequest],
        known: dict[str, Transfer],
        accounts: list[AccountInfo],
    ) -> None:
        """Post with what the rule already read: ``known`` holds every transfer of this
        object the rules could have written (only the rules resolve their own pending
        transfers: reserved ids), ``accounts`` the system accounts involved."""
        results = self.ledger.create_transfers(
            uow, event.merchant_id, reqs, allow_reserved=True, known=known, accounts=accounts
        )
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

    def _known(self, uow: UnitOfWork, merchant_id: str, ids: list[str]) -> dict[str, Transfer]:
        return self.ledger.find_transfers(uow.session, merchant_id, ids)

    # ---- payment intents

    def _intent_ids(self, pi_id: str) -> list[str]:
        return [authorization_id(pi_id), capture_id(pi_id), fee_id(pi_id), void_id(pi_id)]

    def on_authorized(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        amount = int(pi.get("amount_capturable") or 0)
        if pi.get("status") != "requires_capture" or amount <= 0:
            return
        cur = str(pi["currency"]).lower()
        m = event.merchant_id
        receivable = self._account(uow, m, GATEWAY_RECEIVABLE, cur)
        pending = self._account(uow, m, MERCHANT_PENDING, cur)
        req = TransferRequest(
            id=authorization_id(pi["id"]),
            kind=KIND_PENDING,
            debit_account_id=receivable.id,
            credit_account_id=pending.id,
            amount=amount,
            currency=cur,
            code=CODE_AUTHORIZATION,
            source=pi["id"],
        )
        known = self._known(uow, m, self._intent_ids(pi["id"]))
        self._post(uow, event, [req], known, [receivable, pending])

    def on_succeeded(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        received = int(pi.get("amount_received") or 0)
        if received <= 0:
            return
        cur = str(pi["currency"]).lower()
        m = event.merchant_id
        receivable = self._account(uow, m, GATEWAY_RECEIVABLE, cur)
        pending = self._account(uow, m, MERCHANT_PENDING, cur)
        fees = self._account(uow, m, FEES, cur)
        auth = authorization_id(pi["id"])
        # The payment says whether an authorization came first; a payment captured at once
        # has no transfer of its own yet (its ids are unique: a second posting would fail),
        # so it needs no lookup. Without the fact (older writers), look them up.
        if event.extra.get("authorized_first") is False:
            known: dict[str, Transfer] = {}
        else:
            known = self._known(uow, m, self._intent_ids(pi["id"]))
        has_auth = auth in known
        fee = self.fees.fee_for(uow, m, cur, received)
        capture = TransferRequest(
            id=capture_id(pi["id"]),
            kind=KIND_POST if has_auth else KIND_POSTED,
            debit_account_id=receivable.id,
            credit_account_id=pending.id,
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
                    debit_account_id=pending.id,
                    credit_account_id=fees.id,
                    amount=fee,
                    currency=cur,
                    code=CODE_FEE,
                    source=pi["id"],
                )
            )
        self._post(uow, event, reqs, known, [receivable, pending, fees])

    def on_canceled(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        m = event.merchant_id
        known = self._known(uow, m, self._intent_ids(pi["id"]))
        auth = authorization_id(pi["id"])
        if auth not in known:
            return  # canceled before any authorization: no money moved
        cur = known[auth].currency
        req = TransferRequest(
            id=void_id(pi["id"]),
            kind=KIND_VOID,
            pending_id=auth,
            code=CODE_AUTHORIZATION,
            source=pi["id"],
        )
        accounts = [
            self._account(uow, m, GATEWAY_RECEIVABLE, cur),
            self._account(uow, m, MERCHANT_PENDING, cur),
        ]
        self._post(uow, event, [req], known, accounts)

    # ---- refunds

    def _refund_ids(self, re_id: str) -> list[str]:
        return [refund_id(re_id), refund_post_id(re_id), refund_void_id(re_id)]

    def _refund_accounts(self, uow: UnitOfWork, m: str, cur: str) -> list[AccountInfo]:
        return [self._account(uow, m, MERCHANT_PENDING, cur), self._account(uow, m, REFUNDS, cur)]

    def on_refund_created(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        cur = str(refund["currency"]).lower()
        m = event.merchant_id
        accounts = self._refund_accounts(uow, m, cur)
        req = TransferRequest(
            id=refund_id(refund["id"]),
            kind=KIND_PENDING,
            debit_account_id=accounts[0].id,
            credit_account_id=accounts[1].id,
            amount=int(refund["amount"]),
            currency=cur,
            code=CODE_REFUND,
            source=refund["id"],
        )
        self._post(uow, event, [req], self._known(uow, m, self._refund_ids(refund["id"])), accounts)

    def _resolve_refund(self, uow: UnitOfWork, event: DomainEvent, kind: str, tid: str) -> None:
        refund: dict[str, Any] = event.object
        m = event.merchant_id
        cur = str(refund["currency"]).lower()
        req = TransferRequest(
            id=tid,
            kind=kind,
            pending_id=refund_id(refund["id"]),
            code=CODE_REFUND,
            source=refund["id"],
        )
        known = self._known(uow, m, self._refund_ids(refund["id"]))
        self._post(uow, event, [req], known, self._refund_accounts(uow, m, cur))

    def on_refund_updated(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        if refund.get("status") != "succeeded":
            return  # a metadata update of a pending refund moves no money
        self._resolve_refund(uow, event, KIND_POST, refund_post_id(refund["id"]))

    def on_refund_failed(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        self._resolve_refund(uow, event, KIND_VOID, refund_void_id(refund["id"]))
