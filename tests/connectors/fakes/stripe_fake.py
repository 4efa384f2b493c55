"""A local fake of Stripe's PaymentIntents API, from its documented wire format.

Form-encoded bodies with bracketed keys, ``Authorization: Bearer sk_test_…`` (401 otherwise),
``Idempotency-Key`` on POSTs (same key and parameters replay the first answer; different
parameters get a 400 ``idempotency_error``), JSON objects shaped like Stripe's
(``payment_intent``, ``refund``, ``search_result``, ``list``), 402 ``card_error`` with
``decline_code`` and the failed ``payment_intent``, 400 ``invalid_request_error``, 404
``resource_missing``, 503 ``api_error`` for an injected outage. The API key's suffix names
the account, so two keys are two merchants.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from connectors.fakes.common import with_faults
from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    CardData,
    OperationKind,
    OperationStatus,
    RefundRequest,
    StatusRequest,
    TerminalError,
    VoidRequest,
)
from strongbox.connectors.simulator.engine import ChargeRecord, ChargeStatus, SimulatorEngine
from strongbox.core.secret import Secret

_PI_STATUS = {
    ChargeStatus.REQUIRES_ACTION: "requires_action",
    ChargeStatus.AUTHORIZED: "requires_capture",
    ChargeStatus.CAPTURED: "succeeded",
    ChargeStatus.DECLINED: "requires_payment_method",
    ChargeStatus.VOIDED: "canceled",
}
_SEARCH = re.compile(r"^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$")
_TERMINAL_STATUS = {"resource_missing": 404}


def _error(status: int, type_: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": {"type": type_, "message": message, **extra}}
    return JSONResponse(body, status_code=status)


def _no_such_intent(intent_id: str) -> JSONResponse:
    return _error(
        404,
        "invalid_request_error",
        f"No such payment_intent: '{intent_id}'",
        code="resource_missing",
    )


def _metadata(form: dict[str, str]) -> dict[str, str]:
    """``metadata[k]=v`` form fields as a dict."""
    return {
        k[len("metadata[") : -1]: v
        for k, v in form.items()
        if k.startswith("metadata[") and k.endswith("]")
    }


def pi_id(ref: str) -> str:
    return "pi_" + ref


def engine_ref(intent_id: str) -> str:
    return intent_id.removeprefix("pi_")


class StripeFake:
    """The fake's state: the engine plus what Stripe keeps that the engine does not."""

    def __init__(self, engine: SimulatorEngine) -> None:
        self.engine = engine
        self.metadata: dict[str, dict[str, str]] = {}  # pi id -> metadata
        self.refunds: dict[str, dict[str, Any]] = {}  # refund id -> refund object
        self.seen_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.app = self._build()

    # ------------------------------------------------------------------ objects

    def intent(self, charge: ChargeRecord) -> dict[str, Any]:
        intent_id = pi_id(charge.reference)
        obj: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": charge.amount,
            "amount_capturable": charge.amount if charge.status is ChargeStatus.AUTHORIZED else 0,
            "amount_received": charge.captured_amount,
            "capture_method": "automatic" if charge.capture_requested else "manual",
            "currency": charge.currency,
            "created": int(charge.created_at.timestamp()),
            "livemode": False,
            "latest_charge": "ch_" + charge.reference,
            "metadata": self.metadata.get(intent_id, {}),
            "status": _PI_STATUS[charge.status],
            "next_action": None,
            "last_payment_error": None,
        }
        if charge.status is ChargeStatus.REQUIRES_ACTION:
            obj["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": f"{self.engine.base_url}/3ds/{charge.challenge_reference}",
                    "return_url": charge.return_url,
                },
            }
        if charge.status is ChargeStatus.DECLINED:
            obj["last_payment_error"] = self.decline_error(charge)
        return obj

    def decline_error(self, charge: ChargeRecord) -> dict[str, Any]:
        current = self.engine.lookup(
            StatusRequest(
                kind=OperationKind.AUTHORIZE,
                idempotency_key=charge.authorize_idempotency_key,
                merchant_id=charge.merchant_id,
            )
        )
        code = current.details.get("code") or "card_declined"
        err: dict[str, Any] = {
            "type": "card_error",
            "code": code,
            "message": current.message or "Your card was declined.",
        }
        if code == "card_declined":
            err["decline_code"] = charge.decline_code
        return err

    def charge(self, account: str, intent_id: str) -> ChargeRecord | None:
        charge = self.engine.charge(engine_ref(intent_id))
        return charge if charge is not None and charge.merchant_id == account else None

    def require_charge(self, account: str, intent_id: str) -> ChargeRecord:
        charge = self.charge(account, intent_id)
        if charge is None:
            raise TerminalError("No such payment_intent", gateway_code="resource_missing")
        return charge

    def intent_of(self, reference: str) -> dict[str, Any]:
        """The intent of a charge, read again after an operation changed it."""
        charge = self.engine.charge(reference)
        assert charge is not None
        return self.intent(charge)

    # ------------------------------------------------------------------ app

    def _build(self) -> FastAPI:
        app = FastAPI(title="fake Stripe", docs_url=None, redoc_url=None)
        engine = self.engine

        def account_of(request: Request) -> str | None:
            auth = request.headers.get("authorization", "")
            key = auth.removeprefix("Bearer ").strip()
            if not auth.startswith("Bearer ") or not key.startswith("sk_test_"):
                return None
            return "acct_" + key.removeprefix("sk_test_")

        async def form_of(request: Request) -> dict[str, str]:
            return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))

        def unauthorized() -> JSONResponse:
            return _error(401, "invalid_request_error", "Invalid API Key provided.")

        def terminal(exc: TerminalError) -> JSONResponse:
            code = exc.gateway_code or "parameter_invalid"
            if code == "idempotency_error":
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return _error(
                _TERMINAL_STATUS.get(code, 400), "invalid_request_error", exc.message, code=code
            )

        async def guarded(kind: OperationKind, request: Request, process: Any) -> Response:
            self.seen_headers.append(dict(request.headers))
            if not request.headers.get("idempotency-key"):
                return _error(400, "invalid_request_error", "an Idempotency-Key is required")
            return await with_faults(
                engine,
                kind,
                process,
                refuse_5xx=lambda: _error(503, "api_error", "Stripe is temporarily unavailable."),
                timeout_response=lambda: _error(504, "api_error", "Gateway timeout."),
                on_terminal=terminal,
            )

        @app.post("/v1/payment_intents")
        async def create(request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            form = await form_of(request)
            key = request.headers.get("idempotency-key", "")

            async def process() -> Response:
                if form.get("confirm") != "true" or form.get("payment_method_data[type]") != "card":
                    return _error(400, "invalid_request_error", "confirm with card data")
                try:
                    amount = int(form["amount"])
                    card = CardData(
                        number=Secret(form["payment_method_data[card][number]"]),
                        exp_month=int(form["payment_method_data[card][exp_month]"]),
                        exp_year=int(form["payment_method_data[card][exp_year]"]),
                        cvc=Secret(form.get("payment_method_data[card][cvc]", "")),
                    )
                except (KeyError, ValueError):
                    return _error(
                        400,
                        "invalid_request_error",
                        "Missing or invalid parameter.",
                        code="parameter_missing",
                    )
                metadata = _metadata(form)
                result = engine.process_authorize(
                    AuthorizeRequest(
                        idempotency_key=key,
                        amount=amount,
                        currency=form.get("currency", ""),
                        capture=form.get("capture_method", "automatic") == "automatic",
                        card=card,
                        merchant_id=account,
                        payment_id=metadata.get("strongbox_payment_id", key),
                        return_url=form.get("return_url"),
                    )
                )
                ref = result.gateway_reference or ""
                with self._lock:
                    self.metadata.setdefault(pi_id(ref), metadata)
                charge = engine.charge(ref)
                assert charge is not None
                intent = self.intent(charge)
                if result.status is OperationStatus.DECLINED:
                    err = self.decline_error(charge)
                    return JSONResponse({"error": {**err, "payment_intent": intent}}, 402)
                return JSONResponse(intent)

            return await guarded(OperationKind.AUTHORIZE, request, process)

        @app.get("/v1/payment_intents/search")
        async def search(request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            match = _SEARCH.match(request.query_params.get("query", ""))
            if match is None:
                return _error(400, "invalid_request_error", "Invalid search query.")
            field, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
            with self._lock:
                ids = [i for i, meta in self.metadata.items() if meta.get(field) == value]
            data = [self.intent(c) for c in (self.charge(account, i) for i in ids) if c]
            return JSONResponse(
                {
                    "object": "search_result",
                    "data": data,
                    "has_more": False,
                    "url": "/v1/payment_intents/search",
                }
            )

        @app.get("/v1/payment_intents/{intent_id}")
        async def retrieve(intent_id: str, request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            charge = self.charge(account, intent_id)
            if charge is None:
                return _no_such_intent(intent_id)
            return JSONResponse(self.intent(charge))

        @app.post("/v1/payment_intents/{intent_id}/capture")
        async def capture(intent_id: str, request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            form = await form_of(request)
            key = request.headers.get("idempotency-key", "")

            async def process() -> Response:
                charge = self.require_charge(account, intent_id)
                amount = int(form.get("amount_to_capture") or charge.amount)
                engine.process_capture(
                    CaptureRequest(
                        idempotency_key=key,
                        gateway_reference=charge.reference,
                        amount=amount,
                        currency=charge.currency,
                        merchant_id=account,
                    )
                )
                return JSONResponse(self.intent_of(charge.reference))

            return await guarded(OperationKind.CAPTURE, request, process)

        @app.post("/v1/payment_intents/{intent_id}/cancel")
        async def cancel(intent_id: str, request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            key = request.headers.get("idempotency-key", "")

            async def process() -> Response:
                charge = self.require_charge(account, intent_id)
                engine.process_void(
                    VoidRequest(
                        idempotency_key=key, gateway_reference=charge.reference, merchant_id=account
                    )
                )
                return JSONResponse(self.intent_of(charge.reference))

            return await guarded(OperationKind.VOID, request, process)

        @app.post("/v1/refunds")
        async def refund(request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            form = await form_of(request)
            key = request.headers.get("idempotency-key", "")

            async def process() -> Response:
                intent_id = form.get("payment_intent", "")
                charge = self.require_charge(account, intent_id)
                try:
                    amount = int(form["amount"]) if "amount" in form else charge.captured_amount
                except ValueError:
                    return _error(400, "invalid_request_error", "Invalid integer: amount")
                result = engine.process_refund(
                    RefundRequest(
                        idempotency_key=key,
                        gateway_reference=charge.reference,
                        amount=amount,
                        currency=charge.currency,
                        merchant_id=account,
                    )
                )
                refund_id = "re_" + (result.gateway_reference or "")
                with self._lock:
                    obj = self.refunds.setdefault(
                        refund_id,
                        {
                            "id": refund_id,
                            "object": "refund",
                            "amount": result.amount,
                            "currency": charge.currency,
                            "payment_intent": intent_id,
                            "status": "succeeded",
                            "metadata": _metadata(form),
                        },
                    )
                return JSONResponse(obj)

            return await guarded(OperationKind.REFUND, request, process)

        @app.get("/v1/refunds")
        async def list_refunds(request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            intent_id = request.query_params.get("payment_intent", "")
            if self.charge(account, intent_id) is None:
                return _no_such_intent(intent_id)
            with self._lock:
                data = [r for r in self.refunds.values() if r["payment_intent"] == intent_id]
            return JSONResponse(
                {"object": "list", "data": data[::-1], "has_more": False, "url": "/v1/refunds"}
            )

        return app
