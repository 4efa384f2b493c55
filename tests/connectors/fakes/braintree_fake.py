"""A local fake of Braintree's server API (the XML API the official SDK speaks).

Paths under ``/merchants/{merchant_id}/transactions``: ``POST`` (sale), ``PUT
{id}/submit_for_settlement``, ``PUT {id}/void``, ``POST {id}/refund``, ``GET {id}``, ``POST
advanced_search_ids`` and ``POST advanced_search``. HTTP Basic auth with the public and private
key (401 otherwise), XML bodies (``application/xml``), ``201`` with a ``<transaction>``,
``422`` with an ``<api-error-response>`` (validation errors with Braintree's codes, or a
declined transaction), ``404`` for unknown transactions, ``503`` for an injected outage.

Like Braintree, the fake does **not** deduplicate sales or refunds: each request is a new
transaction (the engine gets a fresh key), so a connector that re-sends after a lost answer
would charge twice. ``submit_for_settlement`` and ``void`` honour ``api_request_key``.
Captured transactions are reported ``settled`` at once (as after sandbox settlement), so they
can be refunded; cards needing 3D Secure are rejected (``three_d_secure``), since a
server-side sale with raw card data cannot run the challenge.
"""

from __future__ import annotations

import base64
import threading
import uuid
from decimal import Decimal
from typing import Any

from braintree.util.generator import Generator
from braintree.util.parser import Parser
from fastapi import FastAPI, Request
from fastapi.responses import Response

from connectors.fakes.common import with_faults
from strongbox.connectors.base import (
    AuthorizeRequest,
    CaptureRequest,
    CardData,
    OperationKind,
    OperationStatus,
    RefundRequest,
    TerminalError,
    VoidRequest,
)
from strongbox.connectors.simulator.engine import ChargeRecord, ChargeStatus, SimulatorEngine
from strongbox.core.secret import Secret

# Stripe decline code (the engine's) -> Braintree processor response code and text.
PROCESSOR = {
    "generic_decline": ("2046", "Declined"),
    "insufficient_funds": ("2001", "Insufficient Funds"),
    "lost_card": ("2012", "Processor Declined - Possible Lost Card"),
    "stolen_card": ("2013", "Processor Declined - Possible Stolen Card"),
    "expired_card": ("2004", "Expired Card"),
    "incorrect_cvc": ("2010", "Card Issuer Declined CVV"),
    "processing_error": ("3000", "Processor Network Unavailable - Try Again"),
    "payment_intent_authentication_failure": ("2046", "Declined"),
}


def _dashed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.replace("_", "-"): _dashed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dashed(v) for v in value]
    return value


def xml(status: int, root: str, body: dict[str, Any]) -> Response:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + Generator({root.replace("_", "-"): _dashed(body)}).generate()
    )
    return Response(content, status_code=status, media_type="application/xml")


def _money(amount: int) -> str:
    return str(Decimal(amount).scaleb(-2).quantize(Decimal("0.01")))


def _minor(value: str) -> int:
    return int(Decimal(value).scaleb(2))


def validation_error(
    code: str, attribute: str, message: str, nested: str = "transaction"
) -> Response:
    errors: dict[str, Any] = {"errors": []}
    level = errors
    for part in nested.split("."):
        level[part] = {"errors": []}
        level = level[part]
    level["errors"] = [{"code": code, "attribute": attribute, "message": message}]
    return xml(422, "api_error_response", {"errors": errors, "message": message, "params": {}})


class BraintreeFake:
    def __init__(
        self, engine: SimulatorEngine, merchant_id: str, public_key: str, private_key: str
    ):
        self.engine = engine
        self.merchant_id = merchant_id
        self._auth = "Basic " + base64.b64encode(f"{public_key}:{private_key}".encode()).decode()
        self.sales: dict[str, dict[str, Any]] = {}  # transaction id -> order id etc.
        self.credits: dict[str, dict[str, Any]] = {}
        self.engine_keys: dict[str, str] = {}  # engine key -> our idempotency key (order id)
        self._lock = threading.Lock()
        self.app = self._build()

    def reset(self) -> None:
        with self._lock:
            self.sales.clear()
            self.credits.clear()
            self.engine_keys.clear()

    # ------------------------------------------------------------------ objects

    def sale(self, txn_id: str) -> dict[str, Any] | None:
        meta = self.sales.get(txn_id)
        charge = self.engine.charge(txn_id)
        if meta is None or charge is None:
            return None
        return self._sale_object(meta, charge)

    def _sale_object(self, meta: dict[str, Any], charge: ChargeRecord) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": charge.reference,
            "type": "sale",
            "order_id": meta["order_id"],
            "merchant_account_id": meta.get("merchant_account_id") or "default",
            "currency_iso_code": charge.currency.upper(),
            "amount": _money(
                charge.captured_amount if charge.status is ChargeStatus.CAPTURED else charge.amount
            ),
            "created_at": charge.created_at,
            "refund_ids": [c for c, m in self.credits.items() if m["sale"] == charge.reference],
            "processor_response_code": "1000",
            "processor_response_text": "Approved",
            "gateway_rejection_reason": None,
        }
        status = {
            ChargeStatus.AUTHORIZED: "authorized",
            ChargeStatus.CAPTURED: "settled",
            ChargeStatus.VOIDED: "voided",
            ChargeStatus.DECLINED: "processor_declined",
            ChargeStatus.REQUIRES_ACTION: "gateway_rejected",
        }[charge.status]
        if meta.get("rejected"):
            status = "gateway_rejected"
            obj["gateway_rejection_reason"] = "three_d_secure"
        elif charge.status is ChargeStatus.DECLINED:
            code, text = PROCESSOR.get(charge.decline_code or "", ("2046", "Declined"))
            obj["processor_response_code"], obj["processor_response_text"] = code, text
            if code.startswith("3"):
                status = "failed"
        obj["status"] = status
        return obj

    def credit(self, txn_id: str) -> dict[str, Any] | None:
        meta = self.credits.get(txn_id)
        if meta is None:
            return None
        return {
            "id": txn_id,
            "type": "credit",
            "order_id": meta["order_id"],
            "status": "submitted_for_settlement",
            "amount": _money(meta["amount"]),
            "currency_iso_code": meta["currency"].upper(),
            "refunded_transaction_id": meta["sale"],
            "created_at": meta["created_at"],
        }

    # ------------------------------------------------------------------ app

    def _build(self) -> FastAPI:
        app = FastAPI(title="fake Braintree", docs_url=None, redoc_url=None)
        engine = self.engine
        base = f"/merchants/{self.merchant_id}/transactions"

        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == self._auth

        async def body_of(request: Request) -> dict[str, Any]:
            raw = await request.body()
            if not raw.strip():
                return {}
            parsed: dict[str, Any] = Parser(raw).parse()
            return parsed

        def refused(exc: TerminalError) -> Response:
            codes = {
                "resource_missing": "91503",
                "unexpected_state": "91507",
                "amount_too_large": "91521",
                "charge_already_refunded": "91512",
                "invalid_amount": "81503",
            }
            return validation_error(codes.get(exc.gateway_code or "", "91500"), "base", exc.message)

        async def guarded(kind: OperationKind, process: Any) -> Response:
            return await with_faults(
                engine,
                kind,
                process,
                refuse_5xx=lambda: Response("", status_code=503),
                timeout_response=lambda: Response("", status_code=504),
                on_terminal=refused,
            )

        def sale_charge(txn_id: str) -> ChargeRecord | None:
            """The engine's charge of one of our sales (None for credits and unknown ids)."""
            charge = engine.charge(txn_id)
            return charge if charge is not None and txn_id in self.sales else None

        def request_key(params: dict[str, Any]) -> str:
            """``api_request_key`` (Braintree's idempotency for settle and void), or a new one."""
            return str(params.get("api_request_key") or uuid.uuid4().hex)

        @app.post(base)
        async def create(request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            params = (await body_of(request)).get("transaction") or {}

            async def process() -> Response:
                card = params.get("credit_card") or {}
                number = str(card.get("number") or "")
                if params.get("type") != "sale":
                    return validation_error("91523", "type", "Transaction type is invalid.")
                try:
                    amount = _minor(str(params["amount"]))
                    exp_month, exp_year = (
                        int(card["expiration_month"]),
                        int(card["expiration_year"]),
                    )
                except (KeyError, ValueError, ArithmeticError):
                    return validation_error("81502", "amount", "Amount is required.")
                engine_key = f"bt-{uuid.uuid4().hex}"  # Braintree does not deduplicate sales
                order_id = str(params.get("order_id") or "")
                with self._lock:
                    self.engine_keys[engine_key] = order_id
                options = params.get("options") or {}
                result = engine.process_authorize(
                    AuthorizeRequest(
                        idempotency_key=engine_key,
                        amount=amount,
                        currency="usd",
                        capture=bool(options.get("submit_for_settlement")),
                        card=CardData(
                            number=Secret(number),
                            exp_month=exp_month,
                            exp_year=exp_year,
                            cvc=Secret(str(card.get("cvv") or "")),
                        ),
                        merchant_id=self.merchant_id,
                        payment_id=order_id,
                    )
                )
                if result.decline_code == "incorrect_number":
                    return validation_error(
                        "81715",
                        "number",
                        "Credit card number is invalid.",
                        nested="transaction.credit_card",
                    )
                ref = result.gateway_reference or ""
                meta: dict[str, Any] = {
                    "order_id": order_id,
                    "merchant_account_id": params.get("merchant_account_id"),
                }
                if result.status is OperationStatus.REQUIRES_ACTION:
                    engine.process_void(
                        VoidRequest(
                            idempotency_key=f"{engine_key}-void",
                            gateway_reference=ref,
                            merchant_id=self.merchant_id,
                        )
                    )
                    meta["rejected"] = True
                with self._lock:
                    self.sales[ref] = meta
                txn = self.sale(ref)
                assert txn is not None
                if txn["status"] in ("processor_declined", "gateway_rejected", "failed"):
                    message = txn["processor_response_text"]
                    if meta.get("rejected"):
                        message = "Gateway Rejected: three_d_secure"
                    return xml(
                        422,
                        "api_error_response",
                        {
                            "errors": {"errors": []},
                            "message": message,
                            "params": {},
                            "transaction": txn,
                        },
                    )
                return xml(201, "transaction", txn)

            return await guarded(OperationKind.AUTHORIZE, process)

        @app.get(base + "/{txn_id}")
        async def find(txn_id: str, request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            txn = self.sale(txn_id) or self.credit(txn_id)
            if txn is None:
                return Response("", status_code=404)
            return xml(200, "transaction", txn)

        @app.put(base + "/{txn_id}/submit_for_settlement")
        async def settle(txn_id: str, request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            params = (await body_of(request)).get("transaction") or {}

            async def process() -> Response:
                charge = sale_charge(txn_id)
                if charge is None:
                    return Response("", status_code=404)
                amount = _minor(str(params["amount"])) if params.get("amount") else charge.amount
                engine.process_capture(
                    CaptureRequest(
                        idempotency_key=request_key(params),
                        gateway_reference=txn_id,
                        amount=amount,
                        currency=charge.currency,
                        merchant_id=self.merchant_id,
                    )
                )
                txn = self.sale(txn_id)
                assert txn is not None
                return xml(200, "transaction", txn)

            return await guarded(OperationKind.CAPTURE, process)

        @app.put(base + "/{txn_id}/void")
        async def void(txn_id: str, request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            params = (await body_of(request)).get("transaction") or {}

            async def process() -> Response:
                if sale_charge(txn_id) is None:
                    return Response("", status_code=404)
                engine.process_void(
                    VoidRequest(
                        idempotency_key=request_key(params),
                        gateway_reference=txn_id,
                        merchant_id=self.merchant_id,
                    )
                )
                txn = self.sale(txn_id)
                assert txn is not None
                return xml(200, "transaction", txn)

            return await guarded(OperationKind.VOID, process)

        @app.post(base + "/{txn_id}/refund")
        async def refund(txn_id: str, request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            params = (await body_of(request)).get("transaction") or {}

            async def process() -> Response:
                charge = sale_charge(txn_id)
                if charge is None:
                    return Response("", status_code=404)
                amount = _minor(str(params["amount"])) if params.get("amount") else charge.amount
                engine_key = f"bt-{uuid.uuid4().hex}"  # refunds are not deduplicated either
                order_id = str(params.get("order_id") or "")
                result = engine.process_refund(
                    RefundRequest(
                        idempotency_key=engine_key,
                        gateway_reference=txn_id,
                        amount=amount,
                        currency=charge.currency,
                        merchant_id=self.merchant_id,
                    )
                )
                credit_id = result.gateway_reference or engine_key
                with self._lock:
                    self.engine_keys[engine_key] = order_id
                    self.credits[credit_id] = {
                        "order_id": order_id,
                        "amount": amount,
                        "currency": charge.currency,
                        "sale": txn_id,
                        "created_at": charge.created_at,
                    }
                credit = self.credit(credit_id)
                assert credit is not None
                return xml(201, "transaction", credit)

            return await guarded(OperationKind.REFUND, process)

        def matching(search: dict[str, Any]) -> list[str]:
            order = (search.get("order_id") or {}).get("is")
            with self._lock:
                ids = [i for i, m in self.sales.items() if m["order_id"] == order]
                ids += [i for i, m in self.credits.items() if m["order_id"] == order]
            wanted = search.get("ids")
            if isinstance(wanted, list):
                ids = [i for i in ids if i in wanted]
            return ids

        @app.post(base + "/advanced_search_ids")
        async def search_ids(request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            search = (await body_of(request)).get("search") or {}
            return xml(200, "search_results", {"page_size": 50, "ids": matching(search)})

        @app.post(base + "/advanced_search")
        async def search(request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            criteria = (await body_of(request)).get("search") or {}
            txns = [self.sale(i) or self.credit(i) for i in matching(criteria)]
            items = "".join(
                Generator({"transaction": _dashed(t)}).generate() for t in txns if t is not None
            )
            content = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<credit-card-transactions type="collection">{items}</credit-card-transactions>'
            )
            return Response(content, media_type="application/xml")

        return app
