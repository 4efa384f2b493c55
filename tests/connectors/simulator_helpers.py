"""Request builders shared by the simulator tests in this folder."""

from __future__ import annotations

import uuid

from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    CardData,
    RefundRequest,
    StatusRequest,
    VoidRequest,
)
from strongbox.connectors.base import OperationKind as Kind
from strongbox.core.secret import Secret

MERCHANT = "acct_sim"
VISA = "4242424242424242"
THREE_DS = "4000002760003184"


def key() -> str:
    return f"idk_{uuid.uuid4().hex}"


def auth(
    number: str = VISA,
    *,
    amount: int = 2000,
    capture: bool = True,
    idempotency_key: str | None = None,
    merchant: str = MERCHANT,
    currency: str = "usd",
    exp_month: int = 12,
    exp_year: int = 2039,
    return_url: str | None = None,
) -> AuthorizeRequest:
    return AuthorizeRequest(
        idempotency_key=idempotency_key or key(),
        amount=amount,
        currency=currency,
        capture=capture,
        card=CardData(
            number=Secret(number), exp_month=exp_month, exp_year=exp_year, cvc=Secret("314")
        ),
        merchant_id=merchant,
        payment_id=f"pi_{uuid.uuid4().hex}",
        return_url=return_url,
    )


def cap(
    ref: str,
    amount: int,
    idempotency_key: str | None = None,
    *,
    merchant: str = MERCHANT,
    currency: str = "usd",
) -> CaptureRequest:
    return CaptureRequest(
        idempotency_key=idempotency_key or key(),
        gateway_reference=ref,
        amount=amount,
        currency=currency,
        merchant_id=merchant,
    )


def ref_(
    ref: str,
    amount: int,
    idempotency_key: str | None = None,
    *,
    merchant: str = MERCHANT,
    currency: str = "usd",
) -> RefundRequest:
    return RefundRequest(
        idempotency_key=idempotency_key or key(),
        gateway_reference=ref,
        amount=amount,
        currency=currency,
        merchant_id=merchant,
    )


def void(ref: str, idempotency_key: str | None = None, *, merchant: str = MERCHANT) -> VoidRequest:
    return VoidRequest(
        idempotency_key=idempotency_key or key(), gateway_reference=ref, merchant_id=merchant
    )


def status(kind: Kind, idempotency_key: str, *, merchant: str = MERCHANT) -> StatusRequest:
    return StatusRequest(kind=kind, idempotency_key=idempotency_key, merchant_id=merchant)
