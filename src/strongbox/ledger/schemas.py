"""API shapes of the ledger: request parameters and rendered objects."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from strongbox.core.clock import to_unix
from strongbox.core.params import BoolParam, IntParam, ListParams, Metadata, Params
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    KIND_EXPIRE,
    KIND_PENDING,
    KIND_POST,
    KIND_POSTED,
    KIND_VOID,
    LedgerAccount,
)
from strongbox.ledger.transfers import MAX_AMOUNT, Balance, Transfer, TransferRequest

FlagName = Literal["none", "debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
FLAG_VALUES: dict[str, int] = {
    "none": 0,
    "debits_must_not_exceed_credits": DEBITS_MUST_NOT_EXCEED_CREDITS,
    "credits_must_not_exceed_debits": CREDITS_MUST_NOT_EXCEED_DEBITS,
}
FLAG_OF_VALUE = {v: k for k, v in FLAG_VALUES.items()}
TransferType = Literal["posted", "pending", "post_pending", "void_pending"]
TYPE_TO_KIND = {
    "posted": KIND_POSTED,
    "pending": KIND_PENDING,
    "post_pending": KIND_POST,
    "void_pending": KIND_VOID,
}
KIND_TO_TYPE = {v: k for k, v in TYPE_TO_KIND.items()} | {KIND_EXPIRE: "expire_pending"}

TransferId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]{1,100}$")]
AccountRef = Annotated[str, Field(min_length=1, max_length=64)]
Purpose = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Currency = Annotated[str, Field(min_length=1, max_length=10)]
PositiveAmount = Annotated[IntParam, Field(ge=1, le=MAX_AMOUNT)]
Timeout = Annotated[IntParam, Field(ge=1, le=2**31 - 1)]


class CreateAccountParams(Params):
    purpose: Purpose
    currency: Currency
    flags: FlagName = "none"
    metadata: Metadata | None = None


class ListAccountsParams(ListParams):
    currency: Currency | None = None


class TransferParams(Params):
    id: TransferId
    type: TransferType = "posted"
    debit_account: AccountRef | None = None
    credit_account: AccountRef | None = None
    amount: PositiveAmount | None = None
    currency: Currency | None = None
    pending_id: TransferId | None = None
    timeout: Timeout | None = None
    linked: BoolParam = False
    code: Code = "transfer"
    source: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    metadata: Metadata | None = None

    def to_request(self) -> TransferRequest:
        return TransferRequest(
            id=self.id,
            kind=TYPE_TO_KIND[self.type],
            debit_account_id=self.debit_account,
            credit_account_id=self.credit_account,
            amount=self.amount,
            currency=self.currency.lower() if self.currency else None,
            pending_id=self.pending_id,
            timeout=self.timeout,
            linked=self.linked,
            code=self.code,
            source=self.source,
            metadata=dict(self.metadata) if self.metadata else None,
        )


class ListTransfersParams(ListParams):
    account: AccountRef | None = None
    source: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class ListBalanceTransactionsParams(ListParams):
    type: Literal["charge", "refund", "adjustment", "payout"] | None = None
    source: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    payout: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class FeeParams(Params):
    currency: Annotated[str, Field(pattern=r"^(\*|[A-Za-z]{3})$")] = "*"
    percent_bps: Annotated[IntParam, Field(ge=0, le=10_000)]
    fixed_amount: Annotated[IntParam, Field(ge=0, le=99_999_999)] = 0


def render_account(a: LedgerAccount, b: Balance) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "ledger.account",
        "purpose": a.purpose,
        "currency": a.currency,
        "flags": FLAG_OF_VALUE.get(a.flags, "none"),
        "debits_pending": b.debits_pending,
        "debits_posted": b.debits_posted,
        "credits_pending": b.credits_pending,
        "credits_posted": b.credits_posted,
        "metadata": dict(a.metadata_ or {}),
        "created": to_unix(a.created),
    }


def render_transfer(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "ledger.transfer",
        "type": KIND_TO_TYPE.get(t.kind, t.kind),
        "debit_account": t.debit_account_id,
        "credit_account": t.credit_account_id,
        "amount": t.amount,
        "currency": t.currency,
        "pending_id": t.pending_id,
        "expires_at": to_unix(t.timeout_at) if t.timeout_at else None,
        "linked": t.linked,
        "code": t.code,
        "source": t.source,
        "metadata": t.metadata,
        "created": to_unix(t.created),
    }
