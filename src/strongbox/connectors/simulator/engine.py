"""An in-memory, thread-safe simulated card network with latency and fault injection.

The engine is the "gateway" behind both simulator connectors: ``SimulatorConnector`` calls it
in-process, ``HttpSimulatorConnector`` reaches it through the app in ``simulator.http``. It
keeps its own record of every operation so tests can compare it with what Strongbox believes.

Rules
-----
* **Idempotency.** Operations are keyed by ``(merchant_id, idempotency_key)``, as Stripe scopes
  keys per account. The same key with the same parameters replays the first result and never
  charges twice; the same key with different parameters (amount, card, kind ...) raises
  ``TerminalError`` (gateway code ``idempotency_error``). Requests refused with a
  ``TerminalError`` are not recorded, so nothing is stored for them (as Stripe does not store
  requests that fail validation). A replay returns the result as first sent, e.g. still
  ``REQUIRES_ACTION`` for a 3DS authorization; ``get_status`` gives the current outcome.
* **Captures.** One capture per payment, full or partial (``amount`` <= authorized); the
  remainder is released. A second capture is refused.
* **Refunds.** Only on a captured payment; any number of partial refunds while the refunded
  total stays <= the captured amount. An over-refund is refused with ``TerminalError``
  (gateway code ``amount_too_large``, or ``charge_already_refunded`` when nothing is left):
  Stripe answers it with a 400 ``invalid_request_error``, i.e. an invalid request, not an
  issuer decline, so it is not a ``DECLINED`` result.
* **Illegal operations** raise ``TerminalError`` with a clear message and a gateway code:
  capture of a voided/declined/unauthenticated payment, void of a captured payment, refund of
  an uncaptured payment, an unknown payment reference (``resource_missing``), a currency that
  differs from the payment's (``currency_mismatch``).
* **3DS.** Cards that require authentication answer ``REQUIRES_ACTION`` with a
  ``NextAction(redirect_url=f"{base_url}/3ds/{reference}", reference)``. After
  ``complete_challenge(reference, succeed)``, ``get_status(AUTHORIZE, key)`` reports
  ``AUTHORIZED`` (``CAPTURED`` if capture was requested) or ``DECLINED`` with decline code
  ``payment_intent_authentication_failure`` (Stripe's error *code* for a failed
  authentication; Stripe sets no decline code there, so the simulator reuses it as one). A
  payment in ``requires_action`` may be voided; its challenge can then no longer complete.
* **Faults** (``inject``) apply to the four mutating operations, never to status lookups, and
  are consumed first-in first-out, one per matching request:
  ``error_5xx`` refuses before processing (``RetryableError``); ``timeout`` hangs without
  processing (in-process: ``UnknownOutcomeError``, since a real client cannot know);
  ``drop_response`` processes and records the operation, then loses the response
  (``UnknownOutcomeError``).
* **Latency**: every call (status lookups included) waits ``latency_ms`` plus a uniform random
  ``0..jitter_ms``, outside the engine lock.

No PAN or CVC is ever stored: a payment keeps the brand and last four digits, and the
idempotency fingerprint uses a keyed hash with a per-engine random key.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    NextAction,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RetryableError,
    StatusRequest,
    TerminalError,
    UnknownOutcomeError,
    VoidRequest,
)
from strongbox.connectors.simulator.ach import AchNetwork
from strongbox.connectors.simulator.cards import CardOutcome, card_behaviour
from strongbox.core.clock import Clock, get_clock
from strongbox.core.ids import random_token

logger = logging.getLogger(__name__)

FaultKind = Literal["timeout", "error_5xx", "drop_response"]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))

#: Decline code used when the customer fails (or abandons) the 3DS challenge.
AUTHENTICATION_FAILURE = "payment_intent_authentication_failure"

# Gateway codes carried by ``TerminalError.gateway_code``.
CODE_IDEMPOTENCY = "idempotency_error"
CODE_MISSING = "resource_missing"
CODE_STATE = "unexpected_state"
CODE_AMOUNT = "invalid_amount"
CODE_TOO_LARGE = "amount_too_large"
CODE_ALREADY_CAPTURED = "charge_already_captured"
CODE_ALREADY_REFUNDED = "charge_already_refunded"
CODE_CURRENCY = "currency_mismatch"
CODE_INVALID = "invalid_request"

# Gateway codes carried by fault-injected errors.
CODE_SIMULATED_5XX = "simulated_5xx"
CODE_SIMULATED_TIMEOUT = "simulated_timeout"
CODE_SIMULATED_DROP = "simulated_drop_response"


class ChargeStatus(enum.StrEnum):
    """Lifecycle of one payment at the simulated network."""

    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"  # refunds do not change it; see ``refunded_amount``
    DECLINED = "declined"
    VOIDED = "voided"


@dataclass(frozen=True, slots=True)
class Fault:
    """One armed fault: ``remaining`` more matching requests will hit it."""

    kind: FaultKind
    operations: frozenset[OperationKind] | None  # None: all four mutating operations
    remaining: int

    def matches(self, operation: OperationKind) -> bool:
        return self.operations is None or operation in self.operations


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """A snapshot of one payment as the simulator sees it (no PAN: brand and last4 only)."""

    reference: str
    merchant_id: str
    payment_id: str
    authorize_idempotency_key: str
    amount: int  # authorized (or requested, if never authorized)
    currency: str
    status: ChargeStatus
    capture_requested: bool
    captured_amount: int
    released_amount: int  # authorized but released by a partial capture or a void
    refunded_amount: int
    brand: str
    last4: str
    decline_code: str | None
    challenge_reference: str | None
    return_url: str | None
    created_at: datetime

    @property
    def voided(self) -> bool:
        return self.status is ChargeStatus.VOIDED

    @property
    def refundable_amount(self) -> int:
        return self.captured_amount - self.refunded_amount


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """A snapshot of one recorded operation (replays are counted, never re-recorded)."""

    idempotency_key: str
    merchant_id: str
    kind: OperationKind
    reference: str  # the operation's own id: the charge, or the refund for refunds
    charge_reference: str
    amount: int | None
    currency: str
    status: OperationStatus  # the operation's current outcome (3DS authorizations move on)
    decline_code: str | None
    replays: int
    created_at: datetime


@dataclass(slots=True)
class _Charge:
    reference: str
    merchant_id: str
    payment_id: str
    authorize_key: str
    amount: int
    currency: str
    status: ChargeStatus
    capture_requested: bool
    brand: str
    last4: str
    funding: str
    created_at: datetime
    auth_status: OperationStatus  # outcome of the authorize operation
    captured_amount: int = 0
    released_amount: int = 0
    refunded_amount: int = 0
    decline_code: str | None = None
    decline_stripe_code: str | None = None
    decline_message: str | None = None
    challenge_reference: str | None = None
    challenge_succeeded: bool | None = None
    return_url: str | None = None
    network_transaction_id: str | None = None

    def snapshot(self) -> ChargeRecord:
        return ChargeRecord(
            reference=self.reference,
            merchant_id=self.merchant_id,
            payment_id=self.payment_id,
            authorize_idempotency_key=self.authorize_key,
            amount=self.amount,
            currency=self.currency,
            status=self.status,
            capture_requested=self.capture_requested,
            captured_amount=self.captured_amount,
            released_amount=self.released_amount,
            refunded_amount=self.refunded_amount,
            brand=self.brand,
            last4=self.last4,
            decline_code=self.decline_code,
            challenge_reference=self.challenge_reference,
            return_url=self.return_url,
            created_at=self.created_at,
        )


@dataclass(slots=True)
class _Operation:
    idempotency_key: str
    merchant_id: str
    kind: OperationKind
    reference: str
    charge_reference: str
    amount: int | None
    currency: str
    fingerprint: str
    first_result: OperationResult  # what a replay returns
    created_at: datetime
    replays: int = 0

    def snapshot(self, current: OperationResult) -> OperationRecord:
        return OperationRecord(
            idempotency_key=self.idempotency_key,
            merchant_id=self.merchant_id,
            kind=self.kind,
            reference=self.reference,
            charge_reference=self.charge_reference,
            amount=self.amount,
            currency=self.currency,
            status=current.status,
            decline_code=current.decline_code,
            replays=self.replays,
            created_at=self.created_at,
        )


def _new_ref(prefix: str) -> str:
    return f"sim_{prefix}_{random_token()}"


class SimulatorEngine:
    """The simulated card network. All public methods are thread-safe.

    ``authorize``/``capture``/``void``/``refund``/``get_status`` have in-process semantics
    (latency, then faults, then processing) and are what ``SimulatorConnector`` calls. The
    ``process_*`` methods do the processing alone; the HTTP app combines them with
    ``take_fault`` and its own (asynchronous) waiting.
    """

    def __init__(
        self,
        *,
        base_url: str = "http://localhost:8000/simulator",
        latency_ms: int = 0,
        jitter_ms: int = 0,
        hang_seconds: float = 30.0,
        clock: Clock | None = None,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Create an engine.

        ``base_url`` prefixes 3DS challenge URLs (``{base_url}/3ds/{reference}``).
        ``hang_seconds`` is how long the HTTP app holds a request hit by ``timeout`` or
        ``drop_response``: keep it above the client's read timeout. ``clock`` decides card
        expiry (default: the process clock); ``seed`` makes jitter reproducible.
        """
        _check_latency(latency_ms, jitter_ms)
        self.base_url = base_url.rstrip("/")
        self.hang_seconds = hang_seconds
        self._initial_latency = (latency_ms, jitter_ms)
        self._latency_ms = latency_ms
        self._jitter_ms = jitter_ms
        self._clock = clock
        self._random = random.Random(seed)
        self._sleep = sleep
        self._lock = threading.RLock()
        self._fingerprint_key = secrets.token_bytes(32)
        self._faults: list[Fault] = []
        self._charges: dict[str, _Charge] = {}
        self._operations: dict[tuple[str, str], _Operation] = {}
        self._challenges: dict[str, str] = {}  # challenge reference -> charge reference
        # Webhook listeners (``connectors.simulator.webhooks``): called with each outcome, under
        # the engine lock, so they must only enqueue.
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._disputes: dict[str, str] = {}  # dispute reference -> charge reference
        self.ach = AchNetwork(self._now)  # bank debits (connectors/simulator/ach.py)

    # ------------------------------------------------------------------ configuration

    def set_latency(self, latency_ms: int, jitter_ms: int = 0) -> None:
        _check_latency(latency_ms, jitter_ms)
        with self._lock:
            self._latency_ms = latency_ms
            self._jitter_ms = jitter_ms

    @property
    def latency_ms(self) -> int:
        return self._latency_ms

    @property
    def jitter_ms(self) -> int:
        return self._jitter_ms

    def sample_latency(self) -> float:
        """Seconds the next call should wait: ``latency_ms`` + uniform ``0..jitter_ms``."""
        with self._lock:
            ms = self._latency_ms
            if self._jitter_ms:
                ms += self._random.randint(0, self._jitter_ms)
        return ms / 1000.0

    def inject(
        self,
        fault: FaultKind,
        *,
        operations: set[OperationKind] | frozenset[OperationKind] | None = None,
        count: int = 1,
    ) -> None:
        """Arm ``fault`` for the next ``count`` requests of ``operations`` (None: all)."""
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        ops = None if operations is None else frozenset(OperationKind(op) for op in operations)
        with self._lock:
            self._faults.append(Fault(fault, ops, count))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take_fault(self, operation: OperationKind) -> FaultKind | None:
        """Consume and return the first armed fault matching ``operation``, if any."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(operation):
                    if fault.remaining <= 1:
                        del self._faults[i]
                    else:
                        self._faults[i] = replace(fault, remaining=fault.remaining - 1)
                    return fault.kind
        return None

    def reset(self) -> None:
        """Forget every payment, operation, challenge and fault; restore the initial latency."""
        with self._lock:
            self._faults.clear()
            self._charges.clear()
            self._operations.clear()
            self._challenges.clear()
            self._disputes.clear()
            self._latency_ms, self._jitter_ms = self._initial_latency
        self.ach.reset()

    # ------------------------------------------------------------------ records

    def charges(self) -> list[ChargeRecord]:
        """Every payment the network has seen (declined ones included), oldest first."""
        with self._lock:
            return [c.snapshot() for c in self._charges.values()]

    def charge(self, reference: str) -> ChargeRecord | None:
        with self._lock:
            c = self._charges.get(reference)
            return None if c is None else c.snapshot()

    def charge_for_challenge(self, challenge_reference: str) -> ChargeRecord | None:
        with self._lock:
            ref = self._challenges.get(challenge_reference)
            return None if ref is None else self._charges[ref].snapshot()

    def operations(self) -> list[OperationRecord]:
        """Every recorded operation, oldest first (one per idempotency key)."""
        with self._lock:
            return [op.snapshot(self._current(op)) for op in self._operations.values()]

    def operation(
        self, idempotency_key: str, merchant_id: str | None = None
    ) -> OperationRecord | None:
        """The operation recorded under ``idempotency_key`` (any merchant if none given)."""
        with self._lock:
            for op in self._operations.values():
                if op.idempotency_key == idempotency_key and (
                    merchant_id is None or op.merchant_id == merchant_id
                ):
                    return op.snapshot(self._current(op))
        return None

    # ------------------------------------------------------------------ in-process calls

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        return self._call(OperationKind.AUTHORIZE, lambda: self.process_authorize(request))

    def capture(self, request: CaptureRequest) -> OperationResult:
        return self._call(OperationKind.CAPTURE, lambda: self.process_capture(request))

    def void(self, request: VoidRequest) -> OperationResult:
        return self._call(OperationKind.VOID, lambda: self.process_void(request))

    def refund(self, request: RefundRequest) -> OperationResult:
        return self._call(OperationKind.REFUND, lambda: self.process_refund(request))

    def get_status(self, request: StatusRequest) -> OperationResult:
        self._wait(self.sample_latency())
        if self.ach.owns(request):
            return self.ach.lookup(request)
        return self.lookup(request)

    def debit(self, request: AuthorizeRequest) -> OperationResult:
        """An ACH debit (``request.bank_account``), with latency and faults like the rest."""
        return self._call(OperationKind.AUTHORIZE, lambda: self.ach.debit(request))

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def _call(self, kind: OperationKind, process: Callable[[], OperationResult]) -> OperationResult:
        self._wait(self.sample_latency())
        fault = self.take_fault(kind)
        if fault == "error_5xx":
            raise RetryableError(
                f"simulated 5xx: the {kind} request was not processed",
                gateway_code=CODE_SIMULATED_5XX,
            )
        if fault == "timeout":
            raise UnknownOutcomeError(
                f"simulated timeout: no response to the {kind} request",
                gateway_code=CODE_SIMULATED_TIMEOUT,
            )
        if fault == "drop_response":
            with contextlib.suppress(TerminalError):  # a refusal is lost like any answer
                process()
            raise UnknownOutcomeError(
                f"simulated dropped response: the {kind} request was sent, no answer came back",
                gateway_code=CODE_SIMULATED_DROP,
            )
        return process()

    # ------------------------------------------------------------------ processing

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _fingerprint(self, *parts: object) -> str:
        data = "\x1f".join(str(p) for p in parts).encode()
        return hmac.new(self._fingerprint_key, data, hashlib.sha256).hexdigest()

    def _replay(self, merchant_id: str, key: str, fingerprint: str) -> OperationResult | None:
        """The stored result for a repeated key, or None; TerminalError on a parameter clash."""
        if not key:
            raise TerminalError("an idempotency key is required", gateway_code=CODE_INVALID)
        op = self._operations.get((merchant_id, key))
        if op is None:
            return None
        if not hmac.compare_digest(op.fingerprint, fingerprint):
            raise TerminalError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with (this key was first used for a {op.kind} request)",
                gateway_code=CODE_IDEMPOTENCY,
            )
        op.replays += 1
        return op.first_result

    def _record(
        self,
        *,
        key: str,
        kind: OperationKind,
        charge: _Charge,
        reference: str,
        amount: int | None,
        fingerprint: str,
        result: OperationResult,
    ) -> None:
        self._operations[(charge.merchant_id, key)] = _Operation(
            idempotency_key=key,
            merchant_id=charge.merchant_id,
            kind=kind,
            reference=reference,
            charge_reference=charge.reference,
            amount=amount,
            currency=charge.currency,
            fingerprint=fingerprint,
            first_result=result,
            created_at=self._now(),
        )
        self._notify(kind, key, charge, reference, amount, result)

    def _charge_for(self, merchant_id: str, reference: str) -> _Charge:
        charge = self._charges.get(reference)
        if charge is None or charge.merchant_id != merchant_id:
            raise TerminalError("no such payment at the simulator", gateway_code=CODE_MISSING)
        return charge

    @staticmethod
    def _check_amount(amount: int) -> None:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise TerminalError("amount must be a positive integer", gateway_code=CODE_AMOUNT)

    @staticmethod
    def _check_currency(charge: _Charge, currency: str) -> None:
        if currency.lower() != charge.currency:
            raise TerminalError(
                f"currency {currency.lower()!r} does not match the payment's {charge.currency!r}",
                gateway_code=CODE_CURRENCY,
            )

    def _details(self, charge: _Charge, **extra: Any) -> dict[str, Any]:
        details: dict[str, Any] = {
            "brand": charge.brand,
            "last4": charge.last4,
            "funding": charge.funding,
            "charge_status": str(charge.status),
            "authorized_amount": charge.amount,
            "captured_amount": charge.captured_amount,
            "refunded_amount": charge.refunded_amount,
        }
        details.update(extra)
        return details

    def _authorize_result(self, charge: _Charge) -> OperationResult:
        """The authorize operation's outcome, as it stands now."""
        status = charge.auth_status
        if status is OperationStatus.REQUIRES_ACTION:
            assert charge.challenge_reference is not None
            ref = charge.challenge_reference
            return OperationResult(
                status=status,
                gateway_reference=charge.reference,
                amount=charge.amount,
                message="Customer authentication is required.",
                next_action=NextAction(redirect_url=f"{self.base_url}/3ds/{ref}", reference=ref),
                raw_status="requires_action",
                details=self._details(charge, challenge_reference=ref),
            )
        if status is OperationStatus.DECLINED:
            return OperationResult(
                status=status,
                gateway_reference=charge.reference,
                amount=charge.amount,
                decline_code=charge.decline_code,
                message=charge.decline_message,
                raw_status="failed",
                details=self._details(charge, code=charge.decline_stripe_code),
            )
        raw = {
            OperationStatus.AUTHORIZED: "requires_capture",
            OperationStatus.CAPTURED: "succeeded",
            OperationStatus.VOIDED: "canceled",
        }.get(status, str(status))
        return OperationResult(
            status=status,
            gateway_reference=charge.reference,
            amount=charge.amount,
            network_transaction_id=charge.network_transaction_id,
            raw_status=raw,
            details=self._details(charge),
        )

    def process_authorize(self, request: AuthorizeRequest) -> OperationResult:
        """Authorize (and with ``capture=True`` capture) without latency or faults."""
        card = request.require_card()
        number = card.number.reveal()
        currency = request.currency.lower()
        fingerprint = self._fingerprint(
            OperationKind.AUTHORIZE,
            request.payment_id,
            request.amount,
            currency,
            request.capture,
            number,
            card.exp_month,
            card.exp_year,
        )
        with self._lock:
            replayed = self._replay(request.merchant_id, request.idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            self._check_amount(request.amount)
            if len(currency) != 3 or not currency.isalpha():
                raise TerminalError(
                    "currency must be a three-letter ISO 4217 code", gateway_code=CODE_INVALID
                )
            now = self._now()
            behaviour = card_behaviour(number, card.exp_month, card.exp_year, now.date())
            charge = _Charge(
                reference=_new_ref("ch"),
                merchant_id=request.merchant_id,
                payment_id=request.payment_id,
                authorize_key=request.idempotency_key,
                amount=request.amount,
                currency=currency,
                status=ChargeStatus.DECLINED,
                capture_requested=request.capture,
                brand=behaviour.brand,
                last4=number[-4:],
                funding=behaviour.funding,
                created_at=now,
                auth_status=OperationStatus.DECLINED,
                return_url=request.return_url,
            )
            if behaviour.outcome is CardOutcome.SUCCEED:
                self._approve(charge)
            elif behaviour.outcome is CardOutcome.THREE_DS:
                charge.status = ChargeStatus.REQUIRES_ACTION
                charge.auth_status = OperationStatus.REQUIRES_ACTION
                charge.challenge_reference = _new_ref("3ds")
                self._challenges[charge.challenge_reference] = charge.reference
            else:
                charge.decline_code = behaviour.decline_code
                charge.decline_stripe_code = behaviour.code
                charge.decline_message = behaviour.message
            self._charges[charge.reference] = charge
            result = self._authorize_result(charge)
            self._record(
                key=request.idempotency_key,
                kind=OperationKind.AUTHORIZE,
                charge=charge,
                reference=charge.reference,
                amount=request.amount,
                fingerprint=fingerprint,
                result=result,
            )
            logger.debug(
                "simulator authorize %s: %s (%s ending %s)",
                charge.reference,
                result.status,
                charge.brand,
                charge.last4,
            )
            return result

    @staticmethod
    def _approve(charge: _Charge) -> None:
        charge.network_transaction_id = "".join(secrets.choice("0123456789") for _ in range(15))
        if charge.capture_requested:
            charge.status = ChargeStatus.CAPTURED
            charge.auth_status = OperationStatus.CAPTURED
            charge.captured_amount = charge.amount
        else:
            charge.status = ChargeStatus.AUTHORIZED
            charge.auth_status = OperationStatus.AUTHORIZED

    def process_capture(self, request: CaptureRequest) -> OperationResult:
        fingerprint = self._fingerprint(
            OperationKind.CAPTURE, request.gateway_reference, request.amount, request.currency
        )
        with self._lock:
            replayed = self._replay(request.merchant_id, request.idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            charge = self._charge_for(request.merchant_id, request.gateway_reference)
            self._check_currency(charge, request.currency)
            refusal = {
                ChargeStatus.VOIDED: "cannot capture a voided payment",
                ChargeStatus.DECLINED: "cannot capture a declined payment",
                ChargeStatus.REQUIRES_ACTION: (
                    "cannot capture a payment that still requires customer authentication"
                ),
            }.get(charge.status)
            if refusal is not None:
                raise TerminalError(refusal, gateway_code=CODE_STATE)
            if charge.status is ChargeStatus.CAPTURED:
                raise TerminalError(
                    "payment has already been captured", gateway_code=CODE_ALREADY_CAPTURED
                )
            self._check_amount(request.amount)
            if request.amount > charge.amount:
                raise TerminalError(
                    f"capture amount {request.amount} exceeds the authorized amount "
                    f"{charge.amount}",
                    gateway_code=CODE_TOO_LARGE,
                )
            charge.status = ChargeStatus.CAPTURED
            charge.captured_amount = request.amount
            charge.released_amount = charge.amount - request.amount
            result = OperationResult(
                status=OperationStatus.CAPTURED,
                gateway_reference=charge.reference,
                amount=request.amount,
                network_transaction_id=charge.network_transaction_id,
                raw_status="succeeded",
                details=self._details(charge, released_amount=charge.released_amount),
            )
            self._record(
                key=request.idempotency_key,
                kind=OperationKind.CAPTURE,
                charge=charge,
                reference=charge.reference,
                amount=request.amount,
                fingerprint=fingerprint,
                result=result,
            )
            return result

    def process_void(self, request: VoidRequest) -> OperationResult:
        fingerprint = self._fingerprint(OperationKind.VOID, request.gateway_reference)
        with self._lock:
            replayed = self._replay(request.merchant_id, request.idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            charge = self._charge_for(request.merchant_id, request.gateway_reference)
            refusal = {
                ChargeStatus.CAPTURED: "cannot void a captured payment; refund it instead",
                ChargeStatus.VOIDED: "payment has already been voided",
                ChargeStatus.DECLINED: "cannot void a declined payment",
            }.get(charge.status)
            if refusal is not None:
                raise TerminalError(refusal, gateway_code=CODE_STATE)
            if charge.status is ChargeStatus.REQUIRES_ACTION:
                charge.auth_status = OperationStatus.VOIDED
            charge.status = ChargeStatus.VOIDED
            charge.released_amount = charge.amount
            result = OperationResult(
                status=OperationStatus.VOIDED,
                gateway_reference=charge.reference,
                amount=charge.amount,
                raw_status="canceled",
                details=self._details(charge, released_amount=charge.released_amount),
            )
            self._record(
                key=request.idempotency_key,
                kind=OperationKind.VOID,
                charge=charge,
                reference=charge.reference,
                amount=charge.amount,
                fingerprint=fingerprint,
                result=result,
            )
            return result

    def process_refund(self, request: RefundRequest) -> OperationResult:
        fingerprint = self._fingerprint(
            OperationKind.REFUND, request.gateway_reference, request.amount, request.currency
        )
        with self._lock:
            replayed = self._replay(request.merchant_id, request.idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            charge = self._charge_for(request.merchant_id, request.gateway_reference)
            self._check_currency(charge, request.currency)
            if charge.status is not ChargeStatus.CAPTURED:
                raise TerminalError(
                    f"cannot refund a payment that has not been captured (it is {charge.status})",
                    gateway_code=CODE_STATE,
                )
            self._check_amount(request.amount)
            remaining = charge.captured_amount - charge.refunded_amount
            if remaining <= 0:
                raise TerminalError(
                    "payment has already been fully refunded", gateway_code=CODE_ALREADY_REFUNDED
                )
            if request.amount > remaining:
                raise TerminalError(
                    f"refund amount {request.amount} exceeds the refundable amount {remaining}",
                    gateway_code=CODE_TOO_LARGE,
                )
            charge.refunded_amount += request.amount
            refund_ref = _new_ref("re")
            result = OperationResult(
                status=OperationStatus.REFUNDED,
                gateway_reference=refund_ref,
                amount=request.amount,
                raw_status="succeeded",
                details=self._details(charge, charge_reference=charge.reference),
            )
            self._record(
                key=request.idempotency_key,
                kind=OperationKind.REFUND,
                charge=charge,
                reference=refund_ref,
                amount=request.amount,
                fingerprint=fingerprint,
                result=result,
            )
            return result

    def lookup(self, request: StatusRequest) -> OperationResult:
        """What became of the operation sent with this key (no latency, never faulted)."""
        with self._lock:
            op = self._operations.get((request.merchant_id, request.idempotency_key))
            if op is None or op.kind != request.kind:
                return OperationResult(
                    status=OperationStatus.NOT_FOUND,
                    gateway_reference=request.gateway_reference,
                    raw_status="not_found",
                )
            return self._current(op)

    def _current(self, op: _Operation) -> OperationResult:
        """An operation's outcome as it stands now (3DS authorizations move on)."""
        charge = self._charges[op.charge_reference]
        if op.kind is OperationKind.AUTHORIZE:
            return self._authorize_result(charge)
        first = op.first_result
        return replace(first, details={**first.details, **self._details(charge)})

    # ------------------------------------------------------------------ webhooks

    def add_listener(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn`` with an event dict for every outcome (the gateway's webhooks)."""
        with self._lock:
            self._listeners.append(fn)

    def _notify(
        self,
        kind: OperationKind,
        key: str,
        charge: _Charge,
        reference: str,
        amount: int | None,
        result: OperationResult,
    ) -> None:
        if not self._listeners:
            return
        type_ = _EVENT_TYPES.get((kind, result.status))
        if type_ is None:
            return
        event = {
            "type": type_,
            "merchant_id": charge.merchant_id,
            "data": {
                "charge": charge.reference,
                "operation": reference,
                "idempotency_key": key,
                "amount": amount if amount is not None else result.amount,
                "currency": charge.currency,
                "decline_code": result.decline_code,
            },
        }
        self._emit(event)

    def _emit(self, event: dict[str, Any]) -> None:
        """Give ``event`` to every listener (under the engine lock); one that fails is logged
        and does not keep the event from the others."""
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:
                logger.exception("simulator webhook listener failed")

    def open_dispute(
        self, reference: str, *, amount: int | None = None, reason: str = "fraudulent"
    ) -> str:
        """The cardholder disputes a captured payment; returns the dispute reference."""
        with self._lock:
            charge = self._charges.get(reference)
            if charge is None or charge.captured_amount <= 0:
                raise TerminalError("no captured payment to dispute", gateway_code=CODE_STATE)
            dispute = _new_ref("dp")
            self._disputes[dispute] = reference
            event = {
                "type": "dispute.opened",
                "merchant_id": charge.merchant_id,
                "data": {
                    "charge": charge.reference,
                    "dispute": dispute,
                    "amount": amount if amount is not None else charge.captured_amount,
                    "currency": charge.currency,
                    "reason": reason,
                },
            }
            self._emit(event)
        return dispute

    # ------------------------------------------------------------------ 3DS

    def complete_challenge(self, reference: str, succeed: bool) -> OperationResult:
        """Finish the 3DS challenge ``reference``; returns the authorize outcome.

        Repeating the same outcome is harmless; the opposite outcome, or completing the
        challenge of a voided payment, raises ``TerminalError`` (``unexpected_state``). An
        unknown reference raises ``TerminalError`` (``resource_missing``).
        """
        with self._lock:
            charge_ref = self._challenges.get(reference)
            if charge_ref is None:
                raise TerminalError("no such 3DS challenge", gateway_code=CODE_MISSING)
            charge = self._charges[charge_ref]
            if charge.status is ChargeStatus.REQUIRES_ACTION:
                charge.challenge_succeeded = succeed
                if succeed:
                    self._approve(charge)
                else:
                    charge.status = ChargeStatus.DECLINED
                    charge.auth_status = OperationStatus.DECLINED
                    charge.decline_code = AUTHENTICATION_FAILURE
                    charge.decline_stripe_code = AUTHENTICATION_FAILURE
                    charge.decline_message = (
                        "We are unable to authenticate your payment method. Please choose a "
                        "different payment method and try again."
                    )
                result = self._authorize_result(charge)
                self._notify(
                    OperationKind.AUTHORIZE,
                    charge.authorize_key,
                    charge,
                    charge.reference,
                    charge.amount,
                    result,
                )
                return result
            if charge.challenge_succeeded is None:
                raise TerminalError(
                    f"the payment is {charge.status}; its challenge can no longer complete",
                    gateway_code=CODE_STATE,
                )
            if charge.challenge_succeeded is not succeed:
                raise TerminalError(
                    "the 3DS challenge has already been completed with the other outcome",
                    gateway_code=CODE_STATE,
                )
            return self._authorize_result(charge)


_EVENT_TYPES: dict[tuple[OperationKind, OperationStatus], str] = {
    (OperationKind.AUTHORIZE, OperationStatus.AUTHORIZED): "charge.authorized",
    (OperationKind.AUTHORIZE, OperationStatus.CAPTURED): "charge.captured",
    (OperationKind.AUTHORIZE, OperationStatus.DECLINED): "charge.failed",
    (OperationKind.CAPTURE, OperationStatus.CAPTURED): "charge.captured",
    (OperationKind.CAPTURE, OperationStatus.DECLINED): "charge.failed",
    (OperationKind.VOID, OperationStatus.VOIDED): "charge.voided",
    (OperationKind.REFUND, OperationStatus.REFUNDED): "refund.succeeded",
    (OperationKind.REFUND, OperationStatus.DECLINED): "refund.failed",
}


def _check_latency(latency_ms: int, jitter_ms: int) -> None:
    if latency_ms < 0 or jitter_ms < 0:
        raise ValueError("latency_ms and jitter_ms must not be negative")


__all__ = [
    "AUTHENTICATION_FAILURE",
    "FAULT_KINDS",
    "ChargeRecord",
    "ChargeStatus",
    "Fault",
    "FaultKind",
    "OperationRecord",
    "SimulatorEngine",
]
