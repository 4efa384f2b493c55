"""Adyen Checkout API v71 (https://docs.adyen.com/api-explorer/Checkout/71), over httpx.

Wire format: JSON bodies, ``X-API-Key`` header (the merchant's API key), an
``Idempotency-Key`` header on every POST (our attempt's key, at most 64 characters; Adyen keeps
keys for at least 31 days and answers a repeat with the first response), amounts as
``{"value": minor units, "currency": "EUR"}`` (upper case), errors as
``{"status", "errorCode", "message", "errorType", "pspReference"}``.

Base URL: ``https://checkout-test.adyen.com/v71`` (test) or, when the connector account has
``settings[live_url_prefix]``, ``https://{prefix}-checkout-live.adyenpayments.com/checkout/v71``.

Operations
----------
* authorize: ``POST /payments`` with ``reference`` = our idempotency key,
  ``merchantOrderReference`` = our payment id, ``paymentMethod`` (``type: scheme`` with the
  raw card fields: the Adyen account needs the raw-card-data (PCI) permission),
  ``shopperInteraction: Ecommerce``; manual capture per request with
  ``additionalData.manualCapture = "true"``, automatic capture with ``captureDelayHours = 0``.
* capture ``POST /payments/{pspReference}/captures``, void ``…/cancels``, refund
  ``…/refunds``: Adyen answers ``201 {"status": "received"}``; the outcome comes later, only
  by webhook (CAPTURE, CAPTURE_FAILED, CANCELLATION, REFUND, REFUND_FAILED). These answer
  ``PENDING``, and the inbound Adyen notifications resolve them
  (``webhooks.providers.translate_adyen``).
* status: Checkout has **no status lookup**. ``get_status`` answers ``PENDING``
  (``raw_status="awaiting_webhook"``) without a network call, never ``NOT_FOUND``: an
  operation whose answer was lost stays ``processing`` until Adyen's notification resolves it.

Errors
------
* no connection / connect timeout, 429, 503, or a ``Transient-Error: true`` response header:
  ``RetryableError`` (Adyen did not process the request; a retry with the same key is safe);
* read timeout or a dropped connection after sending, ``errorCode 704`` (a request with this
  key is already processed or in progress), other 5xx: ``UnknownOutcomeError``;
* 401/403 (``errorType: security``): ``TerminalError`` (authentication);
* 422 validation errors about the card (``101`` invalid card number, ``103`` CVC length,
  ``129`` expiry) are declines; other 4xx: ``TerminalError`` with Adyen's ``errorCode``.

Result mapping (conservative): ``Authorised`` → AUTHORIZED (manual capture) or CAPTURED
(automatic capture), ``Refused``/``Error``/``Cancelled`` → DECLINED with a Stripe decline code
(``REFUSAL_CODES``), ``RedirectShopper`` with a redirect URL → REQUIRES_ACTION, anything else
(``Pending``, ``Received``, native 3DS2 ``IdentifyShopper``/``ChallengeShopper``, unknown
words) → PENDING.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from strongbox.connectors.adyen import reports
from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CaptureRequest,
    Connector,
    Credentials,
    NextAction,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RetryableError,
    StatusRequest,
    TerminalError,
    UnknownOutcomeError,
    VoidRequest,
)
from strongbox.connectors.http import gateway_client, json_object, obj, send

DEFAULT_BASE_URL = "https://checkout-test.adyen.com/v71"
LIVE_URL = "https://{prefix}-checkout-live.adyenpayments.com/checkout/v71"
MAX_KEY_LENGTH = 64
_PREFIX_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,78}[A-Za-z0-9])?")

#: Adyen ``refusalReasonCode`` → Stripe decline code (docs: "Refusal reasons").
REFUSAL_CODES: dict[str, str] = {
    "2": "generic_decline",  # Refused
    "3": "call_issuer",  # Referral
    "4": "processing_error",  # Acquirer Error
    "5": "pickup_card",  # Blocked Card (refined by the raw acquirer code: lost / stolen)
    "6": "expired_card",  # Expired Card
    "7": "invalid_amount",  # Invalid Amount
    "8": "incorrect_number",  # Invalid Card Number
    "9": "issuer_not_available",  # Issuer Unavailable
    "10": "card_not_supported",  # Not supported
    "11": "authentication_required",  # 3D Not Authenticated
    "12": "insufficient_funds",  # Not enough balance
    "14": "fraudulent",  # Acquirer Fraud
    "15": "generic_decline",  # Cancelled
    "16": "generic_decline",  # Shopper Cancelled
    "17": "incorrect_pin",  # Invalid Pin
    "18": "pin_try_exceeded",  # Pin tries exceeded
    "19": "processing_error",  # Pin validation not possible
    "20": "fraudulent",  # FRAUD (pre-authorisation risk checks)
    "21": "processing_error",  # Not Submitted
    "22": "fraudulent",  # FRAUD-CANCELLED
    "23": "transaction_not_allowed",  # Transaction Not Permitted
    "24": "incorrect_cvc",  # CVC Declined
    "25": "restricted_card",  # Restricted Card
    "26": "revocation_of_authorization",  # Revocation Of Auth
    "27": "do_not_honor",  # Declined Non Generic
    "28": "card_velocity_exceeded",  # Withdrawal amount exceeded
    "29": "withdrawal_count_limit_exceeded",  # Withdrawal count exceeded
    "31": "fraudulent",  # Issuer Suspected Fraud
    "32": "incorrect_zip",  # AVS Declined
    "33": "online_or_offline_pin_required",  # Card requires online pin
    "34": "invalid_account",  # No checking account available on Card
    "35": "invalid_account",  # No savings account available on Card
    "36": "online_or_offline_pin_required",  # Mobile pin required
    "37": "generic_decline",  # Contactless fallback
    "38": "authentication_required",  # Authentication required
    "39": "authentication_required",  # RReq not received from DS
    "40": "generic_decline",  # Current AID is in Penalty Box
    "41": "online_or_offline_pin_required",  # CVM Required Restart Payment
    "42": "authentication_required",  # 3DS Authentication Error
    "43": "online_or_offline_pin_required",  # Online PIN required
    "44": "generic_decline",  # Try another interface
    "45": "generic_decline",  # Chip downgrade mode
    "46": "do_not_try_again",  # Transaction blocked by Adyen to prevent excessive retry fees
}
#: ``refusalReason`` texts (notifications carry the text in ``reason``, not the code).
REFUSAL_REASONS: dict[str, str] = {
    "Refused": "2",
    "Referral": "3",
    "Acquirer Error": "4",
    "Blocked Card": "5",
    "Expired Card": "6",
    "Invalid Amount": "7",
    "Invalid Card Number": "8",
    "Issuer Unavailable": "9",
    "Not supported": "10",
    "3D Not Authenticated": "11",
    "Not enough balance": "12",
    "Acquirer Fraud": "14",
    "Cancelled": "15",
    "Shopper Cancelled": "16",
    "Invalid Pin": "17",
    "Pin tries exceeded": "18",
    "Pin validation not possible": "19",
    "FRAUD": "20",
    "Not Submitted": "21",
    "FRAUD-CANCELLED": "22",
    "Transaction Not Permitted": "23",
    "CVC Declined": "24",
    "Restricted Card": "25",
    "Revocation Of Auth": "26",
    "Declined Non Generic": "27",
    "Withdrawal amount exceeded": "28",
    "Withdrawal count exceeded": "29",
    "Issuer Suspected Fraud": "31",
    "AVS Declined": "32",
    "Card requires online pin": "33",
    "No checking account available on Card": "34",
    "No savings account available on Card": "35",
    "Mobile pin required": "36",
    "Contactless fallback": "37",
    "Authentication required": "38",
    "RReq not received from DS": "39",
    "Current AID is in Penalty Box": "40",
    "CVM Required Restart Payment": "41",
    "3DS Authentication Error": "42",
    "Online PIN required": "43",
    "Try another interface": "44",
    "Chip downgrade mode": "45",
}
#: ISO 8583 response codes in ``additionalData.refusalReasonRaw`` that say more than the
#: refusal reason (Adyen reports lost and stolen cards as "Blocked Card").
RAW_CODES: dict[str, str] = {"41": "lost_card", "43": "stolen_card"}
#: 422 validation ``errorCode``s that are about the card, hence declines, not our bugs.
VALIDATION_DECLINES: dict[str, str] = {
    "101": "incorrect_number",  # Invalid card number
    "102": "incorrect_number",  # Unable to determine variant
    "103": "incorrect_cvc",  # CVC is not the right length
    "129": "invalid_expiry_year",  # Expiry date is invalid
}
_DECLINED = {"Refused", "Error", "Cancelled"}
_VALIDATION_DECLINE = "strongbox_validation_decline"  # internal marker, never on the wire
_ACTION = {"RedirectShopper"}


def decline_code_for(refusal_code: Any, raw: Any = None) -> str:
    """The Stripe decline code for an Adyen refusal (``generic_decline`` when unknown)."""
    code = str(refusal_code or "").strip()
    if isinstance(raw, str):
        iso = raw.split(":", 1)[0].strip()
        if code in ("", "2", "5", "27") and iso in RAW_CODES:
            return RAW_CODES[iso]
    return REFUSAL_CODES.get(code, "generic_decline")


def decline_code_for_reason(reason: Any, raw: Any = None) -> str:
    """The Stripe decline code for a notification's ``reason`` text (a refusal reason, possibly
    followed by details after a colon) and optional ``refusalReasonRaw``."""
    text = str(reason or "").split(":", 1)[0].strip()
    return decline_code_for(REFUSAL_REASONS.get(text, ""), raw)


class AdyenConnector(Connector):
    name = "adyen"
    # No STATUS_LOOKUP (Checkout has none) and no THREE_DS: a redirect answer is handed to the
    # customer, but completing it needs ``/payments/details`` with the shopper's
    # ``redirectResult``, which our action-completion path does not carry (the AUTHORISATION
    # webhook still resolves such a payment).
    capabilities = (
        Capability.MANUAL_CAPTURE
        | Capability.PARTIAL_CAPTURE
        | Capability.VOID
        | Capability.REFUND
        | Capability.PARTIAL_REFUND
        | Capability.MULTIPLE_REFUNDS
        | Capability.IDEMPOTENT_REPLAY
    )
    credential_fields = ("api_key",)
    setting_fields = ("merchant_account", "live_url_prefix")
    required_settings = ("merchant_account",)

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        report_base_url: str = reports.TEST_REPORT_BASE,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.report_base_url = report_base_url.rstrip("/")
        self._client = gateway_client(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transport=transport,
            headers={"User-Agent": "strongbox-adyen-connector", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"AdyenConnector(base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def base_for(self, creds: Credentials) -> str:
        """The live endpoint when the account names its prefix, else the configured one."""
        prefix = creds.settings.get("live_url_prefix")
        if not prefix:
            return self.base_url
        if not _PREFIX_RE.fullmatch(prefix):
            raise TerminalError(
                "the connector account's live_url_prefix is not a valid Adyen prefix",
                gateway_code="invalid_live_url_prefix",
            )
        return LIVE_URL.format(prefix=prefix)

    def report_base_for(self, creds: Credentials) -> str:
        """Where the account's report files are: the live tree for a live account."""
        return (
            reports.LIVE_REPORT_BASE
            if creds.settings.get("live_url_prefix")
            else (self.report_base_url)
        )

    def download_report(self, creds: Credentials, url: str) -> str:
        """A report file a ``REPORT_AVAILABLE`` notification announced (``reports.py``)."""
        return reports.download(self._client, self.report_base_for(creds), creds, url)

    # ------------------------------------------------------------------ operations

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        card = request.require_card()
        method: dict[str, Any] = {
            "type": "scheme",
            "number": card.number.reveal(),
            "expiryMonth": f"{card.exp_month:02d}",
            "expiryYear": f"{card.exp_year:04d}",
        }
        if card.cvc is not None:
            method["cvc"] = card.cvc.reveal()
        if card.holder_name:
            method["holderName"] = card.holder_name
        creds = request.credentials
        body: dict[str, Any] = {
            "amount": _amount(request.amount, request.currency),
            "reference": request.idempotency_key,
            "merchantOrderReference": request.payment_id,
            "merchantAccount": creds.setting("merchant_account"),
            "paymentMethod": method,
            "shopperInteraction": "Ecommerce",
            "metadata": {k[:20]: v[:80] for k, v in list(request.metadata.items())[:20]},
        }
        if request.capture:
            body["captureDelayHours"] = 0
        else:
            body["additionalData"] = {"manualCapture": "true"}
        if request.return_url:
            body["returnUrl"] = request.return_url
        response = self._post("/payments", body, request.idempotency_key, creds, payment=True)
        result = self._payment_result(response, capture=request.capture)
        if result.amount is not None and result.amount != request.amount:
            # Adyen replays the first answer for a key whatever the body: a different amount
            # under the same key is a clash, not a payment of the new amount.
            raise TerminalError(
                "the idempotency key was used for a payment of another amount",
                gateway_code="idempotency_error",
            )
        return result

    def capture(self, request: CaptureRequest) -> OperationResult:
        creds = request.credentials
        body = {
            "merchantAccount": creds.setting("merchant_account"),
            "amount": _amount(request.amount, request.currency),
            "reference": request.idempotency_key,
        }
        path = f"/payments/{_path(request.gateway_reference)}/captures"
        return self._modification(self._post(path, body, request.idempotency_key, creds), request)

    def void(self, request: VoidRequest) -> OperationResult:
        creds = request.credentials
        body = {
            "merchantAccount": creds.setting("merchant_account"),
            "reference": request.idempotency_key,
        }
        path = f"/payments/{_path(request.gateway_reference)}/cancels"
        return self._modification(self._post(path, body, request.idempotency_key, creds), request)

    def refund(self, request: RefundRequest) -> OperationResult:
        creds = request.credentials
        body: dict[str, Any] = {
            "merchantAccount": creds.setting("merchant_account"),
            "amount": _amount(request.amount, request.currency),
            "reference": request.idempotency_key,
        }
        if request.reason in ("duplicate", "fraudulent", "requested_by_customer"):
            body["merchantRefundReason"] = {
                "duplicate": "DUPLICATE",
                "fraudulent": "FRAUD",
                "requested_by_customer": "CUSTOMER REQUEST",
            }[request.reason]
        path = f"/payments/{_path(request.gateway_reference)}/refunds"
        return self._modification(self._post(path, body, request.idempotency_key, creds), request)

    def get_status(self, request: StatusRequest) -> OperationResult:
        """Checkout has no lookup: wait for the webhook. Never NOT_FOUND (Adyen may have
        processed the request; answering "never seen" would let the payment be given up)."""
        return OperationResult(
            status=OperationStatus.PENDING,
            gateway_reference=request.gateway_reference,
            raw_status="awaiting_webhook",
            message="Adyen has no status lookup: the outcome arrives by webhook.",
        )

    # ------------------------------------------------------------------ mapping

    @staticmethod
    def _payment_result(body: dict[str, Any], *, capture: bool) -> OperationResult:
        raw = str(body.get("resultCode") or "")
        ref = _str(body.get("pspReference"))
        amount = _value(body.get("amount"))
        if raw == "Authorised":
            return OperationResult(
                status=OperationStatus.CAPTURED if capture else OperationStatus.AUTHORIZED,
                gateway_reference=ref,
                amount=amount,
                raw_status=raw,
                network_transaction_id=_str(
                    (body.get("additionalData") or {}).get("networkTxReference")
                )
                if isinstance(body.get("additionalData"), dict)
                else None,
            )
        if raw in _DECLINED:
            extra = obj(body.get("additionalData"))
            code = decline_code_for(body.get("refusalReasonCode"), extra.get("refusalReasonRaw"))
            if raw == "Error" and body.get("refusalReasonCode") is None:
                code = "processing_error"
            if isinstance(body.get(_VALIDATION_DECLINE), str):
                code = body[_VALIDATION_DECLINE]
            return OperationResult(
                status=OperationStatus.DECLINED,
                gateway_reference=ref,
                amount=amount,
                decline_code=code,
                message="Your card was declined.",
                raw_status=raw,
                details={"refusal_reason_code": _str(str(body.get("refusalReasonCode") or ""))},
            )
        if raw in _ACTION:
            action = obj(body.get("action"))
            url = action.get("url")
            if isinstance(url, str) and url.startswith("https://") and ref is not None:
                return OperationResult(
                    status=OperationStatus.REQUIRES_ACTION,
                    gateway_reference=ref,
                    amount=amount,
                    next_action=NextAction(redirect_url=url, reference=ref),
                    raw_status=raw,
                )
        return OperationResult(
            status=OperationStatus.PENDING,
            gateway_reference=ref,
            amount=amount,
            raw_status=raw or None,
        )

    @staticmethod
    def _modification(
        body: dict[str, Any], request: CaptureRequest | VoidRequest | RefundRequest
    ) -> OperationResult:
        raw = str(body.get("status") or "")
        payment = _str(body.get("paymentPspReference")) or request.gateway_reference
        if payment != request.gateway_reference:
            raise UnknownOutcomeError(
                "Adyen answered for another payment", gateway_code="bad_response"
            )
        amount = _value(body.get("amount"))
        if amount is None and not isinstance(request, VoidRequest):
            amount = request.amount
        # "received" is all Adyen says: the outcome comes by webhook.
        return OperationResult(
            status=OperationStatus.PENDING,
            gateway_reference=payment,
            amount=amount,
            raw_status=raw or None,
            details={"modification": _str(body.get("pspReference"))},
        )

    # ------------------------------------------------------------------ transport

    def _post(
        self,
        path: str,
        body: dict[str, Any],
        key: str,
        creds: Credentials,
        *,
        payment: bool = False,
    ) -> dict[str, Any]:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise TerminalError(
                "Adyen idempotency keys are 1-64 characters", gateway_code="invalid_idempotency_key"
            )
        headers = {"X-API-Key": creds.secret("api_key"), "Idempotency-Key": key}
        url = self.base_for(creds) + path
        response = send(self._client, "Adyen", "POST", url, json=body, headers=headers)
        data = json_object(response)
        status = response.status_code
        if 200 <= status < 300:
            if not data:
                raise UnknownOutcomeError(
                    "Adyen answered with an unreadable body", gateway_code="bad_response"
                )
            return data
        code = _str(str(data.get("errorCode") or "")) or f"http_{status}"
        message = f"Adyen answered HTTP {status} ({code})"
        if isinstance(data.get("message"), str):
            message = f"{message}: {data['message'][:200]}"
        if code == "704":
            raise UnknownOutcomeError(
                "Adyen: a request with this idempotency key is already processed or in progress",
                gateway_code="704",
            )
        if response.headers.get("Transient-Error", "").lower() == "true":
            raise RetryableError(message, gateway_code=code)
        if status in (429, 503):
            raise RetryableError(message, gateway_code=code)
        if status >= 500:
            raise UnknownOutcomeError(message, gateway_code=code)
        if status in (401, 403):
            raise TerminalError(
                f"Adyen refused the credentials (HTTP {status})", gateway_code="authentication"
            )
        if payment and status == 422 and code in VALIDATION_DECLINES:
            # A card Adyen's validation refuses before any authorisation is a decline.
            return {
                "resultCode": "Refused",
                "pspReference": data.get("pspReference"),
                _VALIDATION_DECLINE: VALIDATION_DECLINES[code],
            }
        raise TerminalError(message, gateway_code=code)


def _amount(value: int, currency: str) -> dict[str, Any]:
    return {"value": value, "currency": currency.upper()}


def _value(amount: Any) -> int | None:
    if not isinstance(amount, dict):
        return None
    value = amount.get("value")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _path(reference: str) -> str:
    if not reference or not reference.isalnum() or len(reference) > 64:
        raise TerminalError("invalid gateway reference", gateway_code="invalid_reference")
    return reference
