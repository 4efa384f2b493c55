"""The harness protocol the shared connector conformance suite runs against.

A connector joins the suite by providing a ``<name>_harness`` fixture in
``tests/conformance/conftest.py`` that yields an object satisfying ``ConnectorHarness`` and
adding ``<name>`` to ``HARNESSES`` there. The harness drives the gateway (real or fake)
behind the connector: fault injection, 3DS challenges, and the gateway's own record of what
it processed, which the tests compare with what the connector reported.

Gateways are expected to honour Stripe's test card numbers (fakes can map them onto their
own test cards).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from strongbox.connectors.base import (
    AuthorizeRequest,
    CardData,
    Connector,
    OperationKind,
    OperationResult,
    OperationStatus,
)
from strongbox.core.secret import Secret

FaultKind = Literal["timeout", "error_5xx", "drop_response"]


@dataclass(frozen=True, slots=True)
class RecordedOperation:
    """One operation as the gateway recorded it (one per idempotency key)."""

    kind: OperationKind
    idempotency_key: str
    status: OperationStatus
    amount: int | None
    reference: str


class ConnectorHarness(Protocol):
    name: str
    connector: Connector
    #: True when the gateway answers modifications with "received" and reports the outcome
    #: by webhook (Adyen); such a harness also has ``notified(key)``.
    asynchronous: bool

    def inject_fault(
        self,
        fault: FaultKind,
        *,
        operations: set[OperationKind] | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` matching requests fail: ``error_5xx`` refuses before
        processing, ``timeout`` hangs without processing, ``drop_response`` processes and
        then loses the answer."""

    def clear_faults(self) -> None: ...

    def complete_challenge(self, reference: str, succeed: bool) -> None:
        """Act as the customer on the 3DS challenge ``reference``."""

    def operations(self) -> list[RecordedOperation]:
        """The gateway's own record, oldest first."""

    def close(self) -> None: ...


class TokenizingHarness(ConnectorHarness, Protocol):
    """A harness whose connector has ``GATEWAY_TOKEN`` also plays the gateway's client SDK
    (Stripe.js, Braintree's Drop-in): it turns a card into the gateway's own token."""

    def make_token(self, number: str, *, exp_month: int = 12, exp_year: int = 2039) -> str:
        """Tokenize this card at the gateway, as the customer's browser would."""


# ---------------------------------------------------------------------------- helpers

MERCHANT = "acct_conformance"
FUTURE_YEAR = 2039


def new_key() -> str:
    return f"idk_{uuid.uuid4().hex}"


def card(
    number: str = "4242424242424242", exp_month: int = 12, exp_year: int = FUTURE_YEAR
) -> CardData:
    return CardData(
        number=Secret(number), exp_month=exp_month, exp_year=exp_year, cvc=Secret("123")
    )


def authorize_request(
    number: str = "4242424242424242",
    *,
    amount: int = 2000,
    capture: bool = True,
    key: str | None = None,
    currency: str = "usd",
    exp_year: int = FUTURE_YEAR,
    return_url: str | None = None,
) -> AuthorizeRequest:
    return AuthorizeRequest(
        idempotency_key=key or new_key(),
        amount=amount,
        currency=currency,
        capture=capture,
        card=card(number, exp_year=exp_year),
        merchant_id=MERCHANT,
        payment_id=f"pi_{uuid.uuid4().hex}",
        return_url=return_url,
        description="conformance",
    )


def token_request(
    token: str, *, amount: int = 2000, capture: bool = True, key: str | None = None
) -> AuthorizeRequest:
    return AuthorizeRequest(
        idempotency_key=key or new_key(),
        amount=amount,
        currency="usd",
        capture=capture,
        token=token,
        merchant_id=MERCHANT,
        payment_id=f"pi_{uuid.uuid4().hex}",
        description="conformance",
    )


def make_token(harness: ConnectorHarness, number: str = "4242424242424242") -> str:
    fn: Callable[..., str] | None = getattr(harness, "make_token", None)
    assert fn is not None, f"{harness.name} has GATEWAY_TOKEN but its harness cannot tokenize"
    return fn(number)


def notified(harness: ConnectorHarness, key: str) -> OperationResult | None:
    """An asynchronous gateway's outcome for ``key``, from the webhook it sends (delivered
    through Strongbox's inbound verification and translation), or None if it sends none."""
    fn: Callable[[str], OperationResult | None] | None = getattr(harness, "notified", None)
    assert fn is not None, f"{harness.name} is asynchronous but cannot deliver its webhooks"
    return fn(key)


def settle(harness: ConnectorHarness, result: OperationResult, key: str) -> OperationResult:
    """The outcome once the gateway has said everything: a synchronous answer as it is; a
    ``PENDING`` answer of an asynchronous gateway resolved by its webhook."""
    if not harness.asynchronous or result.status is not OperationStatus.PENDING:
        return result
    outcome = notified(harness, key)
    assert outcome is not None, f"{harness.name} accepted {key} but sent no notification"
    return outcome


def ops_for(harness: ConnectorHarness, key: str) -> list[RecordedOperation]:
    return [op for op in harness.operations() if op.idempotency_key == key]
