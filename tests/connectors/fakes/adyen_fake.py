"""A local fake of Adyen's Checkout API v71, from its documented wire format.

JSON bodies; ``X-API-Key`` (401 ``errorType: security`` otherwise) and a ``merchantAccount``
the key may use (403 ``901``); ``Idempotency-Key`` on POSTs: a repeat gets the stored first
response (whatever its body), a repeat while the first is still being processed gets
``409 {"errorCode": "704", "message": "request already processed or in progress"}``.
``POST /payments`` answers ``resultCode`` ``Authorised`` / ``Refused`` (``refusalReason``,
``refusalReasonCode``, ``additionalData.refusalReasonRaw``) / ``Error``; a PAN that fails
Adyen's validation gets ``422 {"errorCode": "101", "message": "Invalid card number"}``.
Captures, cancels and refunds answer ``201 {"status": "received"}``; their outcome (and
every payment's AUTHORISATION) is queued as a signed standard notification, handed to the
test (``take``) or posted to ``webhook_url`` (``flush``), like Adyen's notification service.
An injected outage answers ``503`` with ``Transient-Error: true``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import string
import threading
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from connectors.fakes.common import with_faults
from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    CardData,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    TerminalError,
    VoidRequest,
)
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.core.secret import Secret

#: Stripe decline codes the engine's test cards produce → Adyen's refusal
#: (resultCode, refusalReasonCode, refusalReason, raw acquirer response).
REFUSALS: dict[str, tuple[str, str, str, str | None]] = {
    "generic_decline": ("Refused", "2", "Refused", "05 : Do not honor"),
    "insufficient_funds": ("Refused", "12", "Not enough balance", "51 : Insufficient funds"),
    "lost_card": ("Refused", "5", "Blocked Card", "41 : Lost card"),
    "stolen_card": ("Refused", "5", "Blocked Card", "43 : Stolen card"),
    "expired_card": ("Refused", "6", "Expired Card", "54 : Expired card"),
    "incorrect_cvc": ("Refused", "24", "CVC Declined", "N7 : Decline for CVV2 failure"),
    "processing_error": ("Error", "4", "Acquirer Error", None),
    "fraudulent": ("Refused", "20", "FRAUD", None),
}
IN_PROGRESS = object()
_ALNUM = string.ascii_uppercase + string.digits


def sign_item(item: dict[str, Any], hmac_key_hex: str) -> str:
    """Adyen's HMAC of one NotificationRequestItem: HMAC-SHA256 (hex key) over
    ``pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:
    eventCode:success``, base64."""
    amount = item.get("amount") or {}
    fields = [
        item.get("pspReference", ""),
        item.get("originalReference", ""),
        item.get("merchantAccountCode", ""),
        item.get("merchantReference", ""),
        amount.get("value", ""),
        amount.get("currency", ""),
        item.get("eventCode", ""),
        item.get("success", ""),
    ]
    signed = ":".join(str(f) for f in fields).encode()
    digest = hmac.new(binascii.unhexlify(hmac_key_hex), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _error(
    status: int, code: str, message: str, type_: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "status": status,
        "errorCode": code,
        "message": message,
        "errorType": type_,
        "pspReference": new_psp(),
    }
    return JSONResponse(body, status_code=status, headers=headers)


def new_psp() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(16))


class AdyenFake:
    """The fake's state: the engine plus what Adyen keeps that the engine does not."""

    def __init__(
        self,
        engine: SimulatorEngine,
        *,
        api_keys: dict[str, set[str]],
        hmac_key: str,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.api_keys = api_keys  # API key -> merchant accounts it may use
        self.hmac_key = hmac_key
        self.basic_auth = basic_auth
        self.webhook_url: str | None = None
        self.processing_seconds = 0.0  # how long a request stays "in progress" (704 tests)
        self.seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []  # path, headers, body
        self._lock = threading.Lock()
        self._idem: dict[tuple[str, str], object] = {}
        self._psp: dict[str, str] = {}  # engine reference -> pspReference
        self._ref: dict[str, str] = {}  # pspReference -> engine reference
        self.outbox: list[dict[str, Any]] = []
        # Report files by (merchant account, file name), and how many downloads fail first.
        self.reports: dict[tuple[str, str], str] = {}
        self.report_failures = 0
        self.app = self._build()

    def reset(self) -> None:
        with self._lock:
            self._idem.clear()
            self.outbox.clear()
            self.seen.clear()
            self.reports.clear()
            self.report_failures = 0

    # ------------------------------------------------------------------ notifications

    def psp_of(self, engine_ref: str) -> str:
        with self._lock:
            psp = self._psp.get(engine_ref)
            if psp is None:
                psp = self._psp[engine_ref] = new_psp()
                self._ref[psp] = engine_ref
            return psp

    def engine_ref(self, psp: str) -> str | None:
        with self._lock:
            return self._ref.get(psp)

    def _queue(
        self,
        event: str,
        success: bool,
        *,
        psp: str,
        merchant_account: str,
        reference: str,
        amount: int | None,
        currency: str,
        original: str | None = None,
        reason: str = "",
        extra: dict[str, str] | None = None,
    ) -> None:
        item: dict[str, Any] = {
            "additionalData": dict(extra or {}),
            "amount": {"currency": currency.upper(), "value": amount or 0},
            "eventCode": event,
            "eventDate": "2026-12-01T12:00:00+01:00",
            "merchantAccountCode": merchant_account,
            "merchantReference": reference,
            "paymentMethod": "visa",
            "pspReference": psp,
            "reason": reason,
            "success": "true" if success else "false",
        }
        if original:
            item["originalReference"] = original
        item["additionalData"]["hmacSignature"] = sign_item(item, self.hmac_key)
        with self._lock:
            self.outbox.append(item)

    def take(self, reference: str | None = None) -> list[dict[str, Any]]:
        """Remove and return the queued items (for one merchantReference, or all)."""
        with self._lock:
            taken = [i for i in self.outbox if reference in (None, i["merchantReference"])]
            self.outbox = [i for i in self.outbox if i not in taken]
            return taken

    @staticmethod
    def body(items: list[dict[str, Any]]) -> bytes:
        wrapped = [{"NotificationRequestItem": i} for i in items]
        return orjson.dumps({"live": "false", "notificationItems": wrapped})

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.basic_auth is not None:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def flush(self, post: Callable[..., Any] | None = None) -> list[Any]:
        """Send every queued item, one request each, to ``webhook_url`` (with ``post``, e.g. a
        test client's, or over httpx); Adyen expects ``[accepted]`` and retries otherwise."""
        assert self.webhook_url is not None
        answers = []
        for item in self.take():
            body, headers = self.body([item]), self.headers()
            if post is not None:
                answer = post(self.webhook_url, content=body, headers=headers)
            else:
                answer = httpx.post(self.webhook_url, content=body, headers=headers, timeout=10)
            if answer.status_code != 200 or answer.text != "[accepted]":
                with self._lock:
                    self.outbox.append(item)  # Adyen retries
            answers.append(answer)
        return answers

    # ------------------------------------------------------------------ app

    def _build(self) -> FastAPI:
        app = FastAPI(title="fake Adyen Checkout", docs_url=None, redoc_url=None)
        engine = self.engine

        def unauthorized() -> JSONResponse:
            return _error(401, "000", "HTTP Status Response - Unauthorized", "security")

        async def guarded(
            kind: OperationKind,
            request: Request,
            process: Callable[[dict[str, Any], str], OperationResult | JSONResponse],
            status_code: int = 200,
        ) -> Response:
            api_key = request.headers.get("x-api-key", "")
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                body = None
            self.seen.append((request.url.path, dict(request.headers), body or {}))
            if api_key not in self.api_keys:
                return unauthorized()
            if not isinstance(body, dict):
                return _error(400, "702", "Structure of the request is invalid", "validation")
            account = body.get("merchantAccount")
            if not isinstance(account, str) or not account:
                return _error(422, "901", "Invalid Merchant Account", "validation")
            if account not in self.api_keys[api_key]:
                return _error(403, "901", "Invalid Merchant Account", "security")
            key = request.headers.get("idempotency-key")
            slot = (api_key, key or "")

            async def run() -> Response:
                # Adyen's idempotency layer sees the request only once it arrives: an injected
                # timeout (lost on the way) leaves no trace; a request being processed does.
                if key:
                    with self._lock:
                        stored = self._idem.get(slot)
                        if stored is IN_PROGRESS:
                            return _error(
                                409,
                                "704",
                                "request already processed or in progress",
                                "validation",
                            )
                        if stored is not None:
                            assert isinstance(stored, tuple)
                            return JSONResponse(
                                stored[1], status_code=stored[0], headers={"Idempotency-Key": key}
                            )
                        self._idem[slot] = IN_PROGRESS
                try:
                    if self.processing_seconds:
                        await asyncio.sleep(self.processing_seconds)
                    try:
                        out = process(body, key or "")
                    except TerminalError as exc:
                        return _error(422, exc.gateway_code or "000", exc.message, "validation")
                    if isinstance(out, JSONResponse):
                        return out
                    if key:
                        with self._lock:  # stored before the answer leaves (or is dropped)
                            self._idem[slot] = (status_code, out.details["adyen"])
                    return JSONResponse(out.details["adyen"], status_code=status_code)
                finally:
                    if key:
                        with self._lock:
                            if self._idem.get(slot) is IN_PROGRESS:
                                del self._idem[slot]

            return await with_faults(
                engine,
                kind,
                run,
                refuse_5xx=lambda: _error(
                    503,
                    "000",
                    "Service unavailable",
                    "internal",
                    headers={"Transient-Error": "true"},
                ),
                timeout_response=lambda: _error(504, "000", "Gateway timeout", "internal"),
            )

        def amount_of(body: dict[str, Any]) -> tuple[int, str]:
            amount = body.get("amount")
            if not isinstance(amount, dict):
                raise TerminalError("Required field 'amount' is not provided.", gateway_code="100")
            value, currency = amount.get("value"), amount.get("currency")
            if not isinstance(value, int) or value <= 0:
                raise TerminalError("Invalid amount specified", gateway_code="137")
            if not isinstance(currency, str) or currency != currency.upper() or len(currency) != 3:
                raise TerminalError("Invalid currency specified", gateway_code="138")
            return value, currency

        def payment(body: dict[str, Any], key: str) -> OperationResult | JSONResponse:
            value, currency = amount_of(body)
            method = body.get("paymentMethod")
            reference = body.get("reference")
            if not isinstance(reference, str) or not reference:
                raise TerminalError(
                    "Required field 'reference' is not provided.", gateway_code="130"
                )
            if not isinstance(method, dict) or method.get("type") != "scheme":
                raise TerminalError("Invalid payment method", gateway_code="905")
            try:
                card = CardData(
                    number=Secret(str(method["number"])),
                    exp_month=int(method["expiryMonth"]),
                    exp_year=int(method["expiryYear"]),
                    cvc=Secret(str(method.get("cvc", ""))),
                )
            except (KeyError, ValueError):
                raise TerminalError("Invalid card data", gateway_code="000") from None
            manual = (body.get("additionalData") or {}).get("manualCapture") == "true"
            account = body["merchantAccount"]
            result = engine.process_authorize(
                AuthorizeRequest(
                    idempotency_key=key or reference,
                    amount=value,
                    currency=currency.lower(),
                    capture=not manual,
                    card=card,
                    merchant_id=account,
                    payment_id=str(body.get("merchantOrderReference") or reference),
                    return_url=body.get("returnUrl"),
                )
            )
            charge = engine.charge(result.gateway_reference or "")
            assert charge is not None
            psp = self.psp_of(charge.reference)
            answer: dict[str, Any] = {
                "pspReference": psp,
                "merchantReference": reference,
                "amount": {"currency": currency, "value": value},
            }
            if result.status in (OperationStatus.AUTHORIZED, OperationStatus.CAPTURED):
                answer["resultCode"] = "Authorised"
                answer["additionalData"] = {"networkTxReference": "NTX" + psp[:12]}
                self._queue(
                    "AUTHORISATION",
                    True,
                    psp=psp,
                    merchant_account=account,
                    reference=reference,
                    amount=value,
                    currency=currency,
                )
            elif result.status is OperationStatus.DECLINED:
                code = charge.decline_code or "generic_decline"
                if code == "incorrect_number":
                    return _error(422, "101", "Invalid card number", "validation")
                result_code, refusal_code, reason, raw = REFUSALS.get(
                    code, REFUSALS["generic_decline"]
                )
                answer |= {
                    "resultCode": result_code,
                    "refusalReason": reason,
                    "refusalReasonCode": refusal_code,
                }
                if raw:
                    answer["additionalData"] = {"refusalReasonRaw": raw}
                self._queue(
                    "AUTHORISATION",
                    False,
                    psp=psp,
                    merchant_account=account,
                    reference=reference,
                    amount=value,
                    currency=currency,
                    reason=reason,
                    extra={"refusalReasonRaw": raw} if raw else None,
                )
            else:  # 3DS cards: Adyen's redirect flow
                answer["resultCode"] = "RedirectShopper"
                answer["action"] = {
                    "type": "redirect",
                    "method": "GET",
                    "paymentMethodType": "scheme",
                    "url": f"https://checkoutshopper-test.adyen.com/3ds/{charge.challenge_reference}",
                }
            return OperationResult(status=result.status, details={"adyen": answer})

        def modification(
            kind: OperationKind, psp: str, body: dict[str, Any], key: str
        ) -> OperationResult | JSONResponse:
            ref = self.engine_ref(psp)
            charge = engine.charge(ref) if ref else None
            account = body["merchantAccount"]
            if charge is None or charge.merchant_id != account:
                raise TerminalError(
                    "Original pspReference required for this operation", gateway_code="167"
                )
            reference = str(body.get("reference") or "")
            mod_psp = new_psp()
            value, currency = (
                amount_of(body) if kind is not OperationKind.VOID else (0, charge.currency.upper())
            )
            event = {
                OperationKind.CAPTURE: "CAPTURE",
                OperationKind.VOID: "CANCELLATION",
                OperationKind.REFUND: "REFUND",
            }[kind]
            success, reason = True, ""
            try:
                if kind is OperationKind.CAPTURE:
                    engine.process_capture(
                        CaptureRequest(
                            idempotency_key=key or reference,
                            gateway_reference=charge.reference,
                            amount=value,
                            currency=currency.lower(),
                            merchant_id=account,
                        )
                    )
                elif kind is OperationKind.VOID:
                    engine.process_void(
                        VoidRequest(
                            idempotency_key=key or reference,
                            gateway_reference=charge.reference,
                            merchant_id=account,
                        )
                    )
                else:
                    engine.process_refund(
                        RefundRequest(
                            idempotency_key=key or reference,
                            gateway_reference=charge.reference,
                            amount=value,
                            currency=currency.lower(),
                            merchant_id=account,
                        )
                    )
            except TerminalError as exc:
                # Adyen accepts the modification and reports the refusal by webhook.
                success, reason = False, exc.message[:100]
            self._queue(
                event,
                success,
                psp=mod_psp,
                original=psp,
                merchant_account=account,
                reference=reference,
                amount=value if kind is not OperationKind.VOID else charge.amount,
                currency=currency,
                reason=reason,
            )
            answer: dict[str, Any] = {
                "merchantAccount": account,
                "paymentPspReference": psp,
                "pspReference": mod_psp,
                "reference": reference,
                "status": "received",
            }
            if kind is not OperationKind.VOID:
                answer["amount"] = {"currency": currency, "value": value}
            return OperationResult(status=OperationStatus.PENDING, details={"adyen": answer})

        @app.post("/payments")
        async def payments(request: Request) -> Response:
            return await guarded(OperationKind.AUTHORIZE, request, payment)

        @app.post("/payments/{psp}/captures")
        async def captures(psp: str, request: Request) -> Response:
            return await guarded(
                OperationKind.CAPTURE,
                request,
                lambda b, k: modification(OperationKind.CAPTURE, psp, b, k),
                201,
            )

        @app.post("/payments/{psp}/cancels")
        async def cancels(psp: str, request: Request) -> Response:
            return await guarded(
                OperationKind.VOID,
                request,
                lambda b, k: modification(OperationKind.VOID, psp, b, k),
                201,
            )

        @app.post("/payments/{psp}/refunds")
        async def refunds(psp: str, request: Request) -> Response:
            return await guarded(
                OperationKind.REFUND,
                request,
                lambda b, k: modification(OperationKind.REFUND, psp, b, k),
                201,
            )

        @app.get("/reports/download/MerchantAccount/{account}/{filename}")
        async def report_file(account: str, filename: str, request: Request) -> Response:
            """Adyen's report download: the API key must be allowed the merchant account."""
            api_key = request.headers.get("x-api-key", "")
            self.seen.append((request.url.path, dict(request.headers), {}))
            if account not in self.api_keys.get(api_key, set()):
                return unauthorized()
            with self._lock:
                failures = self.report_failures
                if failures:
                    self.report_failures -= 1
                text = self.reports.get((account, filename))
            if failures:
                return _error(503, "000", "Service unavailable", "internal")
            if text is None:
                return _error(404, "000", "Not found", "validation")
            return Response(text.encode(), media_type="text/csv")

        return app

    # ------------------------------------------------------------------ reports

    def announce_report(self, merchant_account: str, filename: str, text: str, base: str) -> str:
        """Publish a report file and queue its ``REPORT_AVAILABLE`` notification, as Adyen
        does when a settlement batch closes (``pspReference`` the file name, ``reason`` its
        download URL); the URL."""
        url = f"{base.rstrip('/')}/reports/download/MerchantAccount/{merchant_account}/{filename}"
        with self._lock:
            self.reports[(merchant_account, filename)] = text
        self._queue(
            "REPORT_AVAILABLE",
            True,
            psp=filename,
            merchant_account=merchant_account,
            reference="",
            amount=None,
            currency="EUR",
            reason=url,
        )
        return url
