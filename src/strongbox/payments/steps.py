"""What a payment use case hands back to its edge: objects to render, an error, or one gateway
call to make outside any transaction (and, after the call, its outcome)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    ConnectorError,
    OperationKind,
    OperationResult,
    RefundRequest,
    StatusRequest,
    VoidRequest,
)
from strongbox.core.errors import StrongboxError
from strongbox.payments.models import PaymentIntent, Refund
from strongbox.payments.schemas import render_intent, render_refund

GatewayRequest = AuthorizeRequest | CaptureRequest | VoidRequest | RefundRequest | StatusRequest


@dataclass(slots=True)
class GatewayCall:
    """One connector operation to run outside any transaction."""

    attempt_id: str
    merchant_id: str
    connector: str
    kind: OperationKind
    request: GatewayRequest
    connector_account_id: str | None = None
    #: Recovery re-sending the attempt's own request under its key (``recovery.replay``).
    replay: bool = False
    #: Whether the vault may hold a CVC for the payment method (an unused one of a vaulted
    #: card): recording the authorization's outcome then destroys it. Unknown: True.
    holds_cvc: bool = True
    #: Run before the connector, outside any transaction: an outcome it answers ends the call
    #: there, with nothing sent (a bank debit's balance check: ``payments/bank_debit.py``).
    precheck: Callable[[], GatewayOutcome | None] | None = None

    @property
    def is_lookup(self) -> bool:
        return isinstance(self.request, StatusRequest)


@dataclass(slots=True)
class GatewayOutcome:
    result: OperationResult | None = None
    error: ConnectorError | None = None
    seconds: float = 0.0
    from_lookup: bool = False  # a status lookup's outcome, not the operation's own
    from_replay: bool = False  # recovery re-sent the request: an error decides nothing


@dataclass(slots=True)
class Step:
    """What a use case produced: objects to render, an error, or a gateway call to make."""

    intent: PaymentIntent | None = None
    refund: Refund | None = None
    call: GatewayCall | None = None
    error: StrongboxError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def response(self) -> tuple[int, bytes]:
        """The HTTP status and body this step answers (stored on an idempotency key whose
        request never got its answer)."""
        if self.error is not None:
            return self.error.status, orjson.dumps(self.error.to_dict())
        if self.refund is not None:
            return 200, orjson.dumps(render_refund(None, self.refund))
        assert self.intent is not None
        return 200, orjson.dumps(render_intent(None, self.intent))
