"""Bank-data providers' webhooks (issue 20): ``POST /v1/financial_connections/webhooks/{provider}``.

Called by the provider, not the merchant: Plaid's are verified on the raw body (ES256 JWT)
before anything is parsed; Yodlee's (which it does not sign) carry the callback URL's secret
token. Verified notices are stored once and answered 200 at once; the ``bank-webhooks``
worker applies them (``banking/tasks.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from strongbox.api.context import get_runtime
from strongbox.api.responses import dumps, json_response
from strongbox.banking import tasks
from strongbox.banking.providers.base import ProviderError
from strongbox.banking.providers.plaid_webhooks import (
    PlaidWebhookVerifier,
    WebhookRejected,
    plaid_notices,
)
from strongbox.banking.providers.registry import Banking
from strongbox.banking.providers.yodlee import yodlee_notices
from strongbox.core.errors import (
    ApiError,
    AuthenticationError,
    InvalidRequestError,
    ResourceMissingError,
)
from strongbox.core.secret import Secret
from strongbox.webhooks.providers import MAX_BODY_BYTES

router = APIRouter(prefix="/v1/financial_connections", tags=["financial connections"])
YODLEE_DEDUPE_SECONDS = 300


@router.post("/webhooks/{provider}", summary="Receive a bank-data provider's webhook")
async def receive_webhook(provider: str, request: Request) -> Response:
    """Plaid: the ``Plaid-Verification`` JWT is verified before the body is read as JSON.
    Yodlee (which signs nothing): the callback URL's ``token`` must match, and a notice only
    makes us sync an item we hold, reading its data from Yodlee ourselves."""
    rt = get_runtime(request)
    banking = rt.banking
    if banking is None or provider not in ("plaid", "yodlee") or provider not in banking.providers:
        raise ResourceMissingError("No such webhook receiver.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequestError("The webhook body is too large.", code="body_too_large")
    header = request.headers.get("plaid-verification")
    given = request.query_params.get("token", "")

    def receive() -> dict[str, Any]:
        if provider == "plaid":
            dedupe = _verify_plaid(banking, body, header)
        else:
            dedupe = _authenticate_yodlee(banking, body, given, rt.db.clock.now().timestamp())
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise InvalidRequestError("The webhook body is not a JSON object.")
        notices = plaid_notices(payload) if provider == "plaid" else yodlee_notices(payload)
        stored = tasks.receive_webhook(rt.db, provider, dedupe, notices)
        return {"received": True, "duplicate": bool(notices) and not stored}

    return json_response(200, dumps(await run_in_threadpool(receive)))


def _verify_plaid(banking: Banking, body: bytes, header: str | None) -> str:
    verifier = banking.extra.get("plaid_verifier")
    if not isinstance(verifier, PlaidWebhookVerifier):
        raise ResourceMissingError("No such webhook receiver.")
    try:
        verifier.verify(body, header)  # may fetch the key: outside any transaction
    except WebhookRejected:
        raise InvalidRequestError(
            "Webhook signature verification failed.", code="webhook_signature_invalid"
        ) from None
    except ProviderError:
        raise ApiError(
            "The provider's verification key could not be fetched; retry.",
            code="bank_provider_unavailable",
            status=503,
        ) from None
    assert header is not None
    return hashlib.sha256(header.encode() + b"." + body).hexdigest()


def _authenticate_yodlee(banking: Banking, body: bytes, given: str, now: float) -> str:
    token = banking.extra.get("yodlee_webhook_token")
    if not isinstance(token, Secret) or not hmac.compare_digest(
        given.encode(), str(token.reveal()).encode()
    ):
        raise AuthenticationError(
            "Webhook authentication failed.", code="webhook_authentication_failed"
        )
    # No event id and no signature: the same body within five minutes is one delivery.
    return f"{hashlib.sha256(body).hexdigest()}:{int(now) // YODLEE_DEDUPE_SECONDS}"
