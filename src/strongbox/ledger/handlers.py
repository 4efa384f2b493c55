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

import dataclasses
import logging
from typing import Any

from strongbox.core.errors import LedgerInvariantError
from strongbox.db.uow import UnitOfWork
from strongbox.events.dispatcher import EventDispatcher
from strongbox.events.types import DomainEvent
from strongbox.ledger import conversion as fx
from strongbox.ledger.fees import Fees
from strongbox.ledger.models import (
    FEES,
    FX,
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
    def __init__(
        self, ledger: LedgerService, fees: Fees, converter: fx.Converter | None = None
    ) -> None:
        self.ledger = ledger
        self.fees = fees
        # Converts a payment into its merchant's settlement currency (ledger/conversion.py);
        # None: no rates configured, every payment settles in its own currency.
        self.converter = converter

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
        return [
            authorization_id(pi_id),
            capture_id(pi_id),
            fee_id(pi_id),
            void_id(pi_id),
            fx.conversion_id(pi_id),
        ]

    def on_authorized(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        amount = int(pi.get("amount_capturable") or 0)
        if pi.get("status") != "requires_capture" or amount <= 0:
            return
        cur = str(pi["currency"]).lower()
        m = event.merchant_id
        receivable = self._account(uow, m, GATEWAY_RECEIVABLE, cur)
        pending = self._presentment_side(uow, event, m, cur)
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

    def _presentment_side(
        self, uow: UnitOfWork, event: DomainEvent, m: str, cur: str
    ) -> AccountInfo:
        """Where a payment's authorization and capture are credited: the merchant's pending
        balance, or the FX account when the payment settles in another currency."""
        purpose = FX if fx.settlement_currency(event, cur) else MERCHANT_PENDING
        return self._account(uow, m, purpose, cur)

    def on_succeeded(self, uow: UnitOfWork, event: DomainEvent) -> None:
        pi: dict[str, Any] = event.object
        received = int(pi.get("amount_received") or 0)
        if received <= 0:
            return
        cur = str(pi["currency"]).lower()
        m = event.merchant_id
        settle = fx.settlement_currency(event, cur)
        receivable = self._account(uow, m, GATEWAY_RECEIVABLE, cur)
        credit = self._presentment_side(uow, event, m, cur)
        auth = authorization_id(pi["id"])
        # The payment says whether an authorization came first; a payment captured at once
        # has no transfer of its own yet (its ids are unique: a second posting would fail),
        # so it needs no lookup. Without the fact (older writers), look them up.
        if event.extra.get("authorized_first") is False:
            known: dict[str, Transfer] = {}
        else:
            known = self._known(uow, m, self._intent_ids(pi["id"]))
        has_auth = auth in known
        reqs = [
            TransferRequest(
                id=capture_id(pi["id"]),
                kind=KIND_POST if has_auth else KIND_POSTED,
                debit_account_id=receivable.id,
                credit_account_id=credit.id,
                amount=received,
                currency=cur,
                pending_id=auth if has_auth else None,
                code=CODE_CHARGE,
                source=pi["id"],
            )
        ]
        accounts = [receivable, credit]
        fee_cur, fee_base = cur, received
        if settle is not None:
            conv = self.converter(uow, received, cur, settle) if self.converter else None
            if conv is None:
                log.warning("no %s->%s rate for %s: it settles in %s", cur, settle, pi["id"], cur)
            fee_cur = settle if conv is not None else cur
            fee_base = conv.amount if conv is not None else received
            source_fx = self._account(uow, m, FX, fee_cur)
            pending = self._account(uow, m, MERCHANT_PENDING, fee_cur)
            reqs.append(
                TransferRequest(
                    id=fx.conversion_id(pi["id"]),
                    debit_account_id=source_fx.id,
                    credit_account_id=pending.id,
                    amount=fee_base,
                    currency=fee_cur,
                    code=CODE_CHARGE,
                    source=pi["id"],
                    metadata=fx.metadata(received, cur, conv),
                )
            )
            accounts += [source_fx, pending]
        else:
            pending = credit
        fee = self.fees.fee_for(uow, m, fee_cur, fee_base)
        if fee > 0:
            fees = self._account(uow, m, FEES, fee_cur)
            reqs.append(
                TransferRequest(
                    id=fee_id(pi["id"]),
                    debit_account_id=pending.id,
                    credit_account_id=fees.id,
                    amount=fee,
                    currency=fee_cur,
                    code=CODE_FEE,
                    source=pi["id"],
                )
            )
            accounts.append(fees)
        # linked: all of them or none (the capture, its conversion and its fee)
        reqs = [dataclasses.replace(r, linked=i < len(reqs) - 1) for i, r in enumerate(reqs)]
        self._post(uow, event, reqs, known, accounts)

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
            self._presentment_side(uow, event, m, cur),
        ]
        self._post(uow, event, [req], known, accounts)

    # ---- refunds

    def _refund_ids(self, re_id: str) -> list[str]:
        return [
            refund_id(re_id),
            refund_post_id(re_id),
            refund_void_id(re_id),
            fx.refund_conversion_id(re_id),
            fx.refund_conversion_post_id(re_id),
            fx.refund_conversion_void_id(re_id),
        ]

    def on_refund_created(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        cur = str(refund["currency"]).lower()
        m = event.merchant_id
        amount = int(refund["amount"])
        settle = None
        if fx.settlement_currency(event, cur) is not None:
            # Converted only when its payment was (a capture without a rate was not).
            pi_id = str(refund.get("payment_intent") or "")
            leg = self._known(uow, m, [fx.conversion_id(pi_id)]).get(fx.conversion_id(pi_id))
            settle = fx.converted_currency(leg, cur)
        hold_from = self._account(uow, m, FX if settle else MERCHANT_PENDING, cur)
        refunds = self._account(uow, m, REFUNDS, cur)
        reqs = [
            TransferRequest(
                id=refund_id(refund["id"]),
                kind=KIND_PENDING,
                debit_account_id=hold_from.id,
                credit_account_id=refunds.id,
                amount=amount,
                currency=cur,
                code=CODE_REFUND,
                source=refund["id"],
                linked=settle is not None,
            )
        ]
        accounts = [hold_from, refunds]
        if settle is not None:
            conv = self.converter(uow, amount, cur, settle) if self.converter else None
            if conv is None:
                raise LedgerInvariantError(
                    f"No exchange rate from {cur.upper()} to {settle.upper()} to record this "
                    "refund in the settlement currency; nothing was changed. Load rates "
                    "(strongbox fx load) and try again."
                )
            pending = self._account(uow, m, MERCHANT_PENDING, settle)
            to_fx = self._account(uow, m, FX, settle)
            reqs.append(
                TransferRequest(
                    id=fx.refund_conversion_id(refund["id"]),
                    kind=KIND_PENDING,
                    debit_account_id=pending.id,
                    credit_account_id=to_fx.id,
                    amount=conv.amount,
                    currency=settle,
                    code=CODE_REFUND,
                    source=refund["id"],
                    metadata=fx.metadata(amount, cur, conv),
                )
            )
            accounts += [pending, to_fx]
        self._post(uow, event, reqs, self._known(uow, m, self._refund_ids(refund["id"])), accounts)

    def _resolve_refund(self, uow: UnitOfWork, event: DomainEvent, kind: str) -> None:
        """Post (refund succeeded) or void (failed) the refund's hold, and its conversion
        leg when it has one; the accounts come from the pending transfers themselves."""
        refund: dict[str, Any] = event.object
        m, rid = event.merchant_id, refund["id"]
        known = self._known(uow, m, self._refund_ids(rid))
        steps = [(refund_id(rid), refund_post_id(rid), refund_void_id(rid))]
        if fx.refund_conversion_id(rid) in known:
            steps.append(
                (
                    fx.refund_conversion_id(rid),
                    fx.refund_conversion_post_id(rid),
                    fx.refund_conversion_void_id(rid),
                )
            )
        reqs: list[TransferRequest] = []
        accounts: list[AccountInfo] = []
        for hold_id, post_id, void_id_ in steps:
            reqs.append(
                TransferRequest(
                    id=post_id if kind == KIND_POST else void_id_,
                    kind=kind,
                    pending_id=hold_id,
                    code=CODE_REFUND,
                    source=rid,
                    linked=len(steps) > 1 and not reqs,
                )
            )
            hold = known.get(hold_id)
            if hold is not None:
                accounts += self._refund_hold_accounts(uow, m, hold)
        self._post(uow, event, reqs, known, accounts)

    def _refund_hold_accounts(self, uow: UnitOfWork, m: str, hold: Transfer) -> list[AccountInfo]:
        """The accounts of a refund's hold (merchant_pending or, converted, fx → refunds) or
        of its conversion leg (merchant_pending → fx), as on_refund_created wrote them."""
        cur = hold.currency
        pending = self._account(uow, m, MERCHANT_PENDING, cur)
        if hold.id != refund_id(hold.source or ""):
            return [pending, self._account(uow, m, FX, cur)]
        if hold.debit_account_id == pending.id:
            return [pending, self._account(uow, m, REFUNDS, cur)]
        return [self._account(uow, m, FX, cur), self._account(uow, m, REFUNDS, cur)]

    def on_refund_updated(self, uow: UnitOfWork, event: DomainEvent) -> None:
        refund: dict[str, Any] = event.object
        if refund.get("status") != "succeeded":
            return  # a metadata update of a pending refund moves no money
        self._resolve_refund(uow, event, KIND_POST)

    def on_refund_failed(self, uow: UnitOfWork, event: DomainEvent) -> None:
        self._resolve_refund(uow, event, KIND_VOID)
