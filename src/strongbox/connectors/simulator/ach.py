"""The simulator's ACH network: debits of US bank accounts (``Capability.BANK_DEBIT``).

A debit is accepted at once and answered ``PENDING`` (Stripe's ``processing``); it settles
``settlement_seconds`` later on the engine's clock, or when ``settle`` says so (a simulated
settlement event). A status lookup then answers ``CAPTURED``, or ``DECLINED`` with the ACH
return's code for Stripe's failing test account numbers. Any other account number settles.
Requests are idempotent by key like the card network's: the same key and parameters answer
the same debit, other parameters under the key are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from strongbox.connectors.base import (
    AuthorizeRequest,
    OperationKind,
    OperationResult,
    OperationStatus,
    StatusRequest,
    TerminalError,
)

#: Stripe's test account numbers (routing 110000000) whose debits fail, and how.
FAILING_ACCOUNTS: dict[str, tuple[str, str]] = {
    "000111111113": ("account_closed", "The customer's bank account has been closed."),
    "000111111116": ("no_account", "The customer's bank account could not be located."),
    "000222222227": ("insufficient_funds", "The customer's account has insufficient funds."),
    "000333333335": (
        "debit_not_authorized",
        "The customer has notified their bank that this payment was unauthorized.",
    ),
    "000444444440": ("invalid_currency", "The bank was unable to process this currency."),
}


@dataclass
class AchDebit:
    reference: str
    merchant_id: str
    payment_id: str
    key: str
    fingerprint: str
    amount: int
    currency: str
    last4: str
    routing_number: str
    created_at: datetime
    settles_at: datetime
    failure: tuple[str, str] | None
    settled: bool = False

    def status(self, now: datetime) -> OperationStatus:
        if not (self.settled or now >= self.settles_at):
            return OperationStatus.PENDING
        return OperationStatus.DECLINED if self.failure else OperationStatus.CAPTURED


class AchNetwork:
    """Thread-safe; ``now`` is the engine's clock."""

    def __init__(self, now: Callable[[], datetime], settlement_seconds: float = 0.0) -> None:
        self._now = now
        self.settlement_seconds = settlement_seconds
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)
        self._debits: dict[tuple[str, str], AchDebit] = {}

    def reset(self) -> None:
        with self._lock:
            self._debits.clear()

    def debits(self) -> list[AchDebit]:
        with self._lock:
            return list(self._debits.values())

    def owns(self, request: StatusRequest) -> bool:
        with self._lock:
            return (request.merchant_id, request.idempotency_key) in self._debits

    def debit(self, request: AuthorizeRequest) -> OperationResult:
        bank = request.bank_account
        if bank is None:
            raise TerminalError("an ACH debit needs a bank account", gateway_code="invalid_request")
        if isinstance(request.amount, bool) or request.amount <= 0:
            raise TerminalError("amount must be a positive integer", gateway_code="invalid_amount")
        if request.currency.lower() != "usd":
            raise TerminalError("ACH debits are in usd only", gateway_code="currency_mismatch")
        number = bank.account_number.reveal()
        fingerprint = hmac.new(
            self._key,
            "\x1f".join(
                (request.payment_id, str(request.amount), number, bank.routing_number)
            ).encode(),
            hashlib.sha256,
        ).hexdigest()
        now = self._now()
        with self._lock:
            found = self._debits.get((request.merchant_id, request.idempotency_key))
            if found is not None:
                if not hmac.compare_digest(found.fingerprint, fingerprint):
                    raise TerminalError(
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with",
                        gateway_code="idempotency_error",
                    )
                return self._result(found, now)
            d = AchDebit(
                reference="py_" + secrets.token_hex(12),
                merchant_id=request.merchant_id,
                payment_id=request.payment_id,
                key=request.idempotency_key,
                fingerprint=fingerprint,
                amount=request.amount,
                currency="usd",
                last4=number[-4:],
                routing_number=bank.routing_number,
                created_at=now,
                settles_at=now + timedelta(seconds=self.settlement_seconds),
                failure=FAILING_ACCOUNTS.get(number),
            )
            self._debits[(d.merchant_id, d.key)] = d
            # Accepted: processing, whatever the settlement will say.
            return self._result(d, now, first=True)

    def lookup(self, request: StatusRequest) -> OperationResult:
        now = self._now()
        with self._lock:
            d = self._debits.get((request.merchant_id, request.idempotency_key))
            if d is None or request.kind != OperationKind.AUTHORIZE:
                return OperationResult(
                    status=OperationStatus.NOT_FOUND,
                    gateway_reference=request.gateway_reference,
                    raw_status="not_found",
                )
            return self._result(d, now)

    def settle(self, reference: str | None = None) -> int:
        """A settlement event: the debit ``reference`` (every pending one if None) settles
        now. Returns how many did."""
        n = 0
        with self._lock:
            for d in self._debits.values():
                if (reference is None or d.reference == reference) and not d.settled:
                    d.settled = True
                    n += 1
        return n

    @staticmethod
    def _result(d: AchDebit, now: datetime, *, first: bool = False) -> OperationResult:
        status = OperationStatus.PENDING if first else d.status(now)
        details = {"payment_method_type": "us_bank_account", "last4": d.last4}
        if status is OperationStatus.DECLINED:
            assert d.failure is not None
            return OperationResult(
                status=status,
                gateway_reference=d.reference,
                amount=d.amount,
                decline_code=d.failure[0],
                message=d.failure[1],
                raw_status="failed",
                details=details,
            )
        return OperationResult(
            status=status,
            gateway_reference=d.reference,
            amount=d.amount,
            raw_status="succeeded" if status is OperationStatus.CAPTURED else "processing",
            details=details,
        )
