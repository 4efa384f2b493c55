"""Transfers: the value types and the limits.

Limits (TigerBeetle keeps 128-bit balances; ours are 64-bit columns):

- an amount is at most ``MAX_AMOUNT`` (2^53 - 1, the largest integer every JSON client reads
  exactly);
- an account's pending plus posted debits, and its pending plus posted credits, are each at
  most ``balance_limit(slots)`` (``MAX_BALANCE`` = 2^62 for 1 or 16 balance slots), so every
  balance field and every sum the flag checks compute fits a signed 64-bit integer with room
  to spare. A transfer that would pass it fails with ``overflows_debits_pending`` /
  ``…_posted`` / ``overflows_debits`` (or the credit side's), and is never stored.

The rules of a batch are in ``rules.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from strongbox.core.errors import LedgerError
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    KIND_POSTED,
    LIMIT_AMOUNT,
    LIMIT_SLOT_SIDE,
    LedgerTransfer,
)

MAX_BATCH: Final = 8190
"""Most transfers in one batch (TigerBeetle's batch size)."""
MAX_AMOUNT: Final = LIMIT_AMOUNT
"""Largest amount of one transfer, in minor units (2^53 - 1 = 9,007,199,254,740,991)."""
MAX_BALANCE: Final = LIMIT_SLOT_SIDE
"""Largest pending + posted debits (and credits) of an account (2^62 =
4,611,686,018,427,387,904)."""
RESERVED_PREFIX: Final = "sb."
"""Transfer ids the posting rules use; clients cannot choose them."""
EXPIRY_PREFIX: Final = f"{RESERVED_PREFIX}expire."
"""Ids of the expiry worker's ``expire`` transfers (``sb.expire.<pending id>``)."""

FLAG_NAMES: Final = {
    0: None,
    DEBITS_MUST_NOT_EXCEED_CREDITS: "debits_must_not_exceed_credits",
    CREDITS_MUST_NOT_EXCEED_DEBITS: "credits_must_not_exceed_debits",
}

Delta = tuple[int, int, int, int]
"""debits_pending, debits_posted, credits_pending, credits_posted."""


def slot_share(slots: int) -> int:
    """What one balance slot may hold (pending + posted, per side): the slots of an account
    never add up past its limit, so a posting can check its own slot alone."""
    return MAX_BALANCE // slots


def balance_limit(slots: int) -> int:
    """An account's limit: ``MAX_BALANCE`` when its slot count divides it (1 and 16 do)."""
    return slot_share(slots) * slots


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    merchant_id: str
    purpose: str
    currency: str
    flags: int
    slots: int


@dataclass(slots=True)
class Balance:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def add(self, dp: int, dpo: int, cp: int, cpo: int) -> None:
        self.debits_pending += dp
        self.debits_posted += dpo
        self.credits_pending += cp
        self.credits_posted += cpo

    def add_stored(self, dp: Any, dpo: Any, cp: Any, cpo: Any) -> None:
        """Add a stored slot: an integer even if SQLite holds something else there (written
        around the ledger before the limits existed; ``ledger verify`` reports those)."""
        self.add(int(dp), int(dpo), int(cp), int(cpo))

    def as_tuple(self) -> Delta:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One transfer to create. For ``post``/``void`` the accounts, currency and (for a full
    post) the amount may be omitted: they are taken from the pending transfer."""

    id: str
    kind: str = KIND_POSTED  # posted | pending | post | void (expire is ours only)
    debit_account_id: str | None = None
    credit_account_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    pending_id: str | None = None
    timeout: int | None = None  # seconds, pending transfers only
    linked: bool = False
    code: str = "transfer"
    source: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    txn_id: str
    merchant_id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    kind: str
    pending_id: str | None
    timeout_at: datetime | None
    code: str
    source: str | None
    linked: bool
    metadata: dict[str, Any]
    created: datetime

    @classmethod
    def from_row(cls, row: Any) -> Transfer:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            id=m["id"],
            txn_id=m["txn_id"],
            merchant_id=m["merchant_id"],
            debit_account_id=m["debit_account_id"],
            credit_account_id=m["credit_account_id"],
            amount=m["amount"],
            currency=m["currency"],
            kind=m["kind"],
            pending_id=m["pending_id"],
            timeout_at=m["timeout_at"],
            code=m["code"],
            source=m["source"],
            linked=bool(m["linked"]),
            metadata=dict(m["metadata"] or {}),
            created=m["created"],
        )

    @classmethod
    def from_model(cls, m: LedgerTransfer) -> Transfer:
        return cls(
            id=m.id,
            txn_id=m.txn_id,
            merchant_id=m.merchant_id,
            debit_account_id=m.debit_account_id,
            credit_account_id=m.credit_account_id,
            amount=m.amount,
            currency=m.currency,
            kind=m.kind,
            pending_id=m.pending_id,
            timeout_at=m.timeout_at,
            code=m.code,
            source=m.source,
            linked=bool(m.linked),
            metadata=dict(m.metadata_ or {}),
            created=m.created,
        )

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "txn_id": self.txn_id,
            "merchant_id": self.merchant_id,
            "debit_account_id": self.debit_account_id,
            "credit_account_id": self.credit_account_id,
            "amount": self.amount,
            "currency": self.currency,
            "kind": self.kind,
            "pending_id": self.pending_id,
            "timeout_at": self.timeout_at,
            "code": self.code,
            "source": self.source,
            "linked": self.linked,
            "metadata": self.metadata,
            "created": self.created,
        }


@dataclass(slots=True)
class TransferResult:
    index: int
    transfer: Transfer | None = None
    error: LedgerError | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def err(code: str, message: str, param: str | None = None) -> LedgerError:
    return LedgerError(message, code=code, param=param)
