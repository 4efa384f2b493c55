"""The connector contract: one small interface every gateway translator implements.

A connector is a stateless translator between these request/response types and one
gateway's wire format. It has no database, no vault and no settings of its own: the payments
service hands it detokenized card data as ``Secret`` values for one call.

Outcomes are split three ways (the error taxonomy):

* a **result** (``OperationResult``): the gateway answered; ``status`` says what happened,
  including a decline (``OperationStatus.DECLINED`` with a Stripe ``decline_code``);
* ``RetryableError``: the gateway certainly did *not* process the request (connection
  refused, 5xx before processing, rate limited); safe to retry with the same idempotency key
  or to fail over;
* ``UnknownOutcomeError``: the request may have been processed (timeout after sending,
  response dropped). Never retried blindly: the payment stays pending until ``get_status``
  resolves it;
* ``TerminalError``: a technical error that retrying will not fix (bad credentials, invalid
  request as seen by the gateway).

Gateway statuses map conservatively: anything a connector does not recognise is ``PENDING``.

Credentials (API keys, merchant accounts) travel in each request as ``Credentials``: the
payments service unseals the merchant's connector account for one call. A connector declares
the credential fields it needs in ``credential_fields`` (secret) and ``setting_fields``
(plain, e.g. an Adyen merchant account name), so connector accounts can be validated
without knowing the connector.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strongbox.core.secret import Secret


class Capability(enum.Flag):
    NONE = 0
    MANUAL_CAPTURE = enum.auto()
    PARTIAL_CAPTURE = enum.auto()
    VOID = enum.auto()
    REFUND = enum.auto()
    PARTIAL_REFUND = enum.auto()
    MULTIPLE_REFUNDS = enum.auto()
    THREE_DS = enum.auto()
    STATUS_LOOKUP = enum.auto()
    #: Authorizes with a token the gateway made itself (``AuthorizeRequest.token``) and can
    #: describe its card (``describe_token``).
    GATEWAY_TOKEN = enum.auto()
    #: The gateway itself dedupes requests by our idempotency key: re-sending a request under
    #: the same key returns what it did with the first one, or does it now, exactly once.
    #: Recovery re-sends under the key to make an outcome definitive (payments/recovery.py).
    IDEMPOTENT_REPLAY = enum.auto()
    #: Debits a US bank account over ACH (``AuthorizeRequest.bank_account``, with capture):
    #: the answer is ``PENDING`` while the debit is processing; ``get_status`` says
    #: ``CAPTURED`` once it settled, or ``DECLINED`` with the ACH return's code.
    BANK_DEBIT = enum.auto()


class OperationKind(enum.StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class OperationStatus(enum.StrEnum):
    """What the gateway says happened to one operation."""

    AUTHORIZED = "authorized"  # funds held, capture pending
    CAPTURED = "captured"  # authorized and captured (automatic capture or a capture call)
    REQUIRES_ACTION = "requires_action"  # customer authentication (3DS) needed
    DECLINED = "declined"  # a definite "no" from issuer or gateway
    VOIDED = "voided"
    REFUNDED = "refunded"
    PENDING = "pending"  # accepted, outcome not yet known (or a status we do not recognise)
    NOT_FOUND = "not_found"  # status lookup: the gateway never saw this idempotency key


@dataclass(frozen=True, slots=True)
class Credentials:
    """A merchant's credentials for one connector account, for one call.

    ``secrets`` are revealed only by the connector building its request; ``settings`` are
    plain configuration values (account names, regions). The repr shows field names only.
    """

    secrets: Mapping[str, Secret[str]] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    account_id: str | None = None

    def secret(self, name: str) -> str:
        value = self.secrets.get(name)
        if value is None:
            raise TerminalError(f"the connector account has no {name!r} credential")
        return value.reveal()

    def setting(self, name: str, default: str | None = None) -> str:
        value = self.settings.get(name, default)
        if value is None:
            raise TerminalError(f"the connector account has no {name!r} setting")
        return value

    def __repr__(self) -> str:
        return (
            f"Credentials(account_id={self.account_id!r}, secrets={sorted(self.secrets)!r}, "
            f"settings={sorted(self.settings)!r})"
        )


NO_CREDENTIALS = Credentials()


@dataclass(frozen=True, slots=True)
class CardData:
    """Detokenized card data for one gateway call."""

    number: Secret[str]
    exp_month: int
    exp_year: int
    cvc: Secret[str] | None = None
    holder_name: str | None = None

    @property
    def last4(self) -> str:
        return self.number.reveal()[-4:]


@dataclass(frozen=True, slots=True)
class BankAccountData:
    """A US bank account's ACH numbers for one debit (the account number a ``Secret``, shown
    only by the connector building its request)."""

    account_number: Secret[str]
    routing_number: str
    account_type: str = "checking"  # or "savings"
    holder_name: str | None = None

    @property
    def last4(self) -> str:
        return self.account_number.reveal()[-4:]


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """One authorization, with exactly one of ``card`` (detokenized card data), ``token``
    (a payment method the gateway holds itself: a Stripe ``pm_…``/``tok_…`` made by
    Stripe.js, a Braintree nonce), the latter only for connectors with ``GATEWAY_TOKEN``, or
    ``bank_account`` (an ACH debit, only for connectors with ``BANK_DEBIT``)."""

    idempotency_key: str  # derived from the attempt id; gateways dedupe on it
    amount: int  # minor units
    currency: str  # ISO 4217, lower case
    capture: bool  # True: authorize and capture in one step
    merchant_id: str
    payment_id: str
    card: CardData | None = None
    token: str | None = field(default=None, repr=False)
    return_url: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    credentials: Credentials = NO_CREDENTIALS
    bank_account: BankAccountData | None = None

    def __post_init__(self) -> None:
        given = [x for x in (self.card, self.token, self.bank_account) if x is not None]
        if len(given) != 1:
            raise ValueError("an AuthorizeRequest takes exactly one of card, token or bank_account")

    def require_card(self) -> CardData:
        """The card data, for connectors that take nothing else."""
        if self.card is None:
            raise TerminalError("this connector authorizes with card data only")
        return self.card


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """Ask the gateway what card a token of its own stands for."""

    token: str = field(repr=False)
    merchant_id: str
    credentials: Credentials = NO_CREDENTIALS


@dataclass(frozen=True, slots=True)
class TokenDetails:
    """The card behind a gateway token, as the gateway describes it (never a PAN).

    ``brand`` and ``funding`` use Stripe's words (``visa``, ``mastercard``, ``amex``,
    ``discover``, ``diners``, ``jcb``, ``unionpay``, ``unknown``; ``credit``, ``debit``,
    ``prepaid``, ``unknown``). ``fingerprint`` is the gateway's own, when it gives one.
    ``reusable`` is False for single-use tokens (a Braintree nonce, a Stripe ``tok_…``).
    ``token``, when set, is what to store and send back in ``AuthorizeRequest.token`` instead
    of the caller's token (the connector's own form of it, e.g. a Stripe PaymentMethod with
    the Stripe customer that holds it); it never reaches the API.
    """

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    funding: str = "unknown"
    country: str | None = None
    fingerprint: str | None = None
    reusable: bool = True
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    idempotency_key: str
    gateway_reference: str
    amount: int
    currency: str
    merchant_id: str
    credentials: Credentials = NO_CREDENTIALS


@dataclass(frozen=True, slots=True)
class VoidRequest:
    idempotency_key: str
    gateway_reference: str
    merchant_id: str
    credentials: Credentials = NO_CREDENTIALS


@dataclass(frozen=True, slots=True)
class RefundRequest:
    idempotency_key: str
    gateway_reference: str  # the payment's reference at the gateway
    amount: int
    currency: str
    merchant_id: str
    reason: str | None = None
    credentials: Credentials = NO_CREDENTIALS


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask the gateway what became of one operation, by the idempotency key we sent."""

    kind: OperationKind
    idempotency_key: str
    merchant_id: str
    gateway_reference: str | None = None
    credentials: Credentials = NO_CREDENTIALS


@dataclass(frozen=True, slots=True)
class NextAction:
    """Customer action needed before authorization completes (3DS challenge)."""

    redirect_url: str
    reference: str


@dataclass(frozen=True, slots=True)
class OperationResult:
    status: OperationStatus
    gateway_reference: str | None = None
    amount: int | None = None  # amount the operation covered, minor units
    decline_code: str | None = None  # Stripe decline code when DECLINED
    message: str | None = None  # safe, user-facing text
    next_action: NextAction | None = None
    network_transaction_id: str | None = None
    raw_status: str | None = None  # the gateway's own status word, for diagnosis
    details: dict[str, Any] = field(default_factory=dict)


class ConnectorError(Exception):
    """Base of the technical-error taxonomy. Messages carry no secrets."""

    def __init__(self, message: str, *, gateway_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.gateway_code = gateway_code


class RetryableError(ConnectorError):
    """The gateway did not process the request; safe to retry or fail over."""


class UnknownOutcomeError(ConnectorError):
    """The request may or may not have been processed; resolve with ``get_status``."""


class TerminalError(ConnectorError):
    """A technical error that a retry will not fix."""


class InvalidTokenError(TerminalError):
    """The gateway does not know this token, or it can no longer be used (consumed,
    expired, made for another account)."""


class UnsupportedTokenError(TerminalError):
    """The gateway knows this token, but it is not one this connector can pay with (not a
    card: a PayPal or bank-account nonce, a SEPA PaymentMethod)."""


class Connector(ABC):
    """A stateless translator to one gateway."""

    name: str
    capabilities: Capability
    #: Secret credential fields a connector account must provide (e.g. ``api_key``).
    credential_fields: tuple[str, ...] = ()
    #: Plain settings a connector account may provide (e.g. ``merchant_account``).
    setting_fields: tuple[str, ...] = ()
    #: Of ``setting_fields``, the ones an account must provide.
    required_settings: tuple[str, ...] = ()

    @abstractmethod
    def authorize(self, request: AuthorizeRequest) -> OperationResult: ...

    @abstractmethod
    def capture(self, request: CaptureRequest) -> OperationResult: ...

    @abstractmethod
    def void(self, request: VoidRequest) -> OperationResult: ...

    @abstractmethod
    def refund(self, request: RefundRequest) -> OperationResult: ...

    @abstractmethod
    def get_status(self, request: StatusRequest) -> OperationResult: ...

    def describe_token(self, request: TokenRequest) -> TokenDetails:
        """The card behind one of the gateway's own tokens (``GATEWAY_TOKEN`` connectors).

        Raises ``InvalidTokenError`` when the gateway does not know the token, and the usual
        ``RetryableError``/``TerminalError`` otherwise. The payments service checks the
        capability first, so this default answers only a connector that lacks it.
        """
        raise TerminalError(f"the {self.name} connector does not accept gateway tokens")

    @property
    def blocking(self) -> bool:
        """Whether a call may block for long (network I/O): the payments domain then makes
        it from a worker thread, never on the event loop (``core/bridge.py``)."""
        return True

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release network resources, if any."""
