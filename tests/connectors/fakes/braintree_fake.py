"""A local fake of Braintree's server API (the XML API the official SDK speaks).

Paths under ``/merchants/{merchant_id}/transactions``: ``POST`` (sale), ``PUT
{id}/submit_for_settlement``, ``PUT {id}/void``, ``POST {id}/refund``, ``GET {id}``, ``POST
advanced_search_ids`` and ``POST advanced_search``; and ``GET
/merchants/{merchant_id}/payment_method_nonces/{nonce}`` (``gateway.payment_method_nonce.find``).

Nonces. Braintree's client SDKs (Drop-in, Hosted Fields) tokenize a card against Braintree's
*client* API, which this fake does not serve: ``make_nonce(number, ...)`` stands in for that,
in process. A sale with ``payment_method_nonce`` charges the nonce's card through the same
engine path as card data (Stripe's test PANs keep their behaviour) and consumes the nonce,
decline or not; an unknown nonce answers Braintree's validation error 91565, a used one
91564, a locked one (``lock_nonce``) 91566. Braintree's documented static test nonces
(``fake-valid-nonce``, ``fake-valid-visa-nonce``, ``fake-consumed-nonce`` …, see
``STATIC_NONCES``) work too and, as in the sandbox, are never consumed. ``sale_requests``
keeps every sale as received (parsed parameters and the raw XML body), so a test can prove
what a sale carried. HTTP Basic auth with the public and private
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from strongbox.connectors.simulator.cards import brand_of
from strongbox.connectors.simulator.engine import ChargeRecord, ChargeStatus, SimulatorEngine
from strongbox.core.luhn import luhn_valid
from strongbox.core.secret import Secret
from strongbox.vault.cards import bin_info

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


# Stripe brand word -> Braintree's card_type.
CARD_TYPES = {
    "visa": "Visa",
    "mastercard": "MasterCard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "China UnionPay",
}
# Issuing countries of the BINs the fake knows (``vault.cards.bin_info``), alpha-2 -> alpha-3 as
# Braintree's bin_data reports them.
ALPHA3 = {
    "US": "USA",
    "DE": "DEU",
    "FR": "FRA",
    "GB": "GBR",
    "CA": "CAN",
    "BR": "BRA",
    "JP": "JPN",
    "CN": "CHN",
}
# Braintree's documented static sandbox nonces the fake honours: nonce -> card number (None:
# the nonce is always consumed).
STATIC_NONCES: dict[str, str | None] = {
    "fake-valid-nonce": "4111111111111111",
    "fake-valid-visa-nonce": "4111111111111111",
    "fake-valid-mastercard-nonce": "5555555555554444",
    "fake-valid-amex-nonce": "378282246310005",
    "fake-valid-discover-nonce": "6011111111111117",
    "fake-valid-debit-nonce": "4000056655665556",
    "fake-valid-prepaid-nonce": "5105105105105100",
    "fake-processor-declined-visa-nonce": "4000000000000002",
    "fake-consumed-nonce": None,
}


@dataclass(slots=True)
class FakeNonce:
    """A payment method nonce as Braintree's vault holds it."""

    nonce: str
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    static: bool = False  # a documented test nonce: reusable
    consumed: bool = False
    locked: bool = False


@dataclass(frozen=True, slots=True)
class SaleRequest:
    """One ``POST .../transactions`` as the fake received it."""

    params: dict[str, Any]  # the parsed <transaction>
    body: str = field(repr=False)  # the raw XML


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
        self.nonces: dict[str, FakeNonce] = {}
        self.sale_requests: list[SaleRequest] = []
        self._lock = threading.Lock()
        self._add_static_nonces()
        self.app = self._build()

    def reset(self) -> None:
        with self._lock:
            self.sales.clear()
            self.credits.clear()
            self.engine_keys.clear()
            self.nonces.clear()
            self.sale_requests.clear()
            self._add_static_nonces()

    # ------------------------------------------------------------------ nonces

    def _add_static_nonces(self) -> None:
        for nonce, number in STATIC_NONCES.items():
            self.nonces[nonce] = FakeNonce(
                nonce, number or "4111111111111111", 12, 2039, static=True, consumed=not number
            )

    def make_nonce(self, number: str, exp_month: int = 12, exp_year: int = 2039) -> str:
        """Tokenize a card as Braintree's client SDK would (its client API refuses a number
        that fails the Luhn check, so this does too): a fresh single-use nonce."""
        if not (12 <= len(number) <= 19 and number.isdigit() and luhn_valid(number)):
            raise ValueError("Credit card number is invalid.")
        parts = uuid.uuid4().hex
        nonce = f"tokencc_sb_{parts[:6]}_{parts[6:12]}_{parts[12:18]}_{parts[18:24]}_{parts[24:27]}"
        with self._lock:
            self.nonces[nonce] = FakeNonce(nonce, number, exp_month, exp_year)
        return nonce

    def lock_nonce(self, nonce: str) -> None:
        """Lock a nonce, as Braintree does while another request is using it."""
        with self._lock:
            self.nonces[nonce].locked = True

    def sales_with_nonce(self, nonce: str) -> list[SaleRequest]:
        with self._lock:
            return [r for r in self.sale_requests if r.params.get("payment_method_nonce") == nonce]

    def _take_nonce(self, value: str) -> FakeNonce | Response:
        """Use a nonce for a sale (atomically: a nonce pays once), or Braintree's refusal."""
        with self._lock:
            nonce = self.nonces.get(value)
            if nonce is None:
                return validation_error(
                    "91565", "payment_method_nonce", "Unknown payment_method_nonce."
                )
            if nonce.consumed:
                return validation_error(
                    "91564",
                    "payment_method_nonce",
                    "Cannot use a payment_method_nonce more than once.",
                )
            if nonce.locked:
                return validation_error(
                    "91566", "payment_method_nonce", "Payment method nonce is locked."
                )
            if not nonce.static:
                nonce.consumed = True
            return nonce

    def nonce_object(self, nonce: FakeNonce) -> dict[str, Any]:
        """``<payment-method-nonce>`` for a card nonce, as Braintree's server API serves it."""
        number = nonce.number
        country, funding = bin_info(number)
        return {
            "type": "CreditCard",
            "nonce": nonce.nonce,
            "description": f"ending in {number[-2:]}",
            "default": False,
            "is_locked": nonce.locked,
            "consumed": nonce.consumed,
            "details": {
                "bin": number[:6],
                "card_type": CARD_TYPES.get(brand_of(number), "Unknown"),
                "expiration_month": f"{nonce.exp_month:02d}",
                "expiration_year": str(nonce.exp_year),
                "is_network_tokenized": False,
                "last_two": number[-2:],
                "last_four": number[-4:],
            },
            "bin_data": {
                "commercial": "Unknown",
                "country_of_issuance": ALPHA3.get(country or "", "Unknown"),
                "debit": {"debit": "Yes", "unknown": "Unknown"}.get(funding, "No"),
                "durbin_regulated": "Unknown",
                "healthcare": "Unknown",
                "issuing_bank": "Unknown",
                "payroll": "Unknown",
                "prepaid": {"prepaid": "Yes", "unknown": "Unknown"}.get(funding, "No"),
                "product_id": "Unknown",
            },
        }

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
            raw = await request.body()
            params = (Parser(raw).parse() if raw.strip() else {}).get("transaction") or {}
            with self._lock:
                self.sale_requests.append(SaleRequest(params, raw.decode()))

            async def process() -> Response:
                if params.get("type") != "sale":
                    return validation_error("91523", "type", "Transaction type is invalid.")
                try:
                    amount = _minor(str(params["amount"]))
                except (KeyError, ValueError, ArithmeticError):
                    return validation_error("81502", "amount", "Amount is required.")
                nonce_value = params.get("payment_method_nonce")
                if nonce_value:
                    nonce = self._take_nonce(str(nonce_value))
                    if isinstance(nonce, Response):
                        return nonce
                    number, cvc = nonce.number, ""
                    exp_month, exp_year = nonce.exp_month, nonce.exp_year
                else:
                    card = params.get("credit_card") or {}
                    number, cvc = str(card.get("number") or ""), str(card.get("cvv") or "")
                    try:
                        exp_month = int(card["expiration_month"])
                        exp_year = int(card["expiration_year"])
                    except (KeyError, ValueError):
                        return validation_error(
                            "81709",
                            "expiration_date",
                            "Expiration date is required.",
                            nested="transaction.credit_card",
                        )
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
                            cvc=Secret(cvc) if cvc else None,
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
                    "payment_method_nonce": nonce_value or None,
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

        @app.get(f"/merchants/{self.merchant_id}/payment_method_nonces/{{nonce}}")
        async def find_nonce(nonce: str, request: Request) -> Response:
            if not authorized(request):
                return Response("", status_code=401)
            with self._lock:
                found = self.nonces.get(nonce)
                obj = None if found is None else self.nonce_object(found)
            if obj is None:
                return Response("", status_code=404)
            return xml(200, "payment_method_nonce", obj)

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

        def created(txn_id: str) -> datetime | None:
            meta = self.credits.get(txn_id)
            if meta is not None:
                at: datetime = meta["created_at"]
                return at
            charge = engine.charge(txn_id)
            return None if charge is None else charge.created_at

        def matching(search: dict[str, Any]) -> list[str]:
            order = (search.get("order_id") or {}).get("is")
            between = search.get("created_at") or {}
            with self._lock:
                ids = list(self.sales) + list(self.credits)
                if order is not None or not between:
                    orders = {**self.sales, **self.credits}
                    ids = [i for i in ids if orders[i]["order_id"] == order]
            if between:  # created_at min/max (inclusive, as Braintree's), naive UTC
                lo, hi = between.get("min"), between.get("max")
                kept = []
                for i in ids:
                    at = created(i)
                    if at is None:
                        continue
                    at = at.astimezone(UTC).replace(tzinfo=None)
                    if (lo is None or at >= lo) and (hi is None or at <= hi):
                        kept.append(i)
                ids = kept
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
