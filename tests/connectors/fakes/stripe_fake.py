"""A local fake of Stripe's PaymentIntents API, from its documented wire format.

Form-encoded bodies with bracketed keys, ``Authorization: Bearer sk_test_…`` (401 otherwise),
``Idempotency-Key`` on POSTs (same key and parameters replay the first answer; different
parameters get a 400 ``idempotency_error``), JSON objects shaped like Stripe's
(``payment_intent``, ``refund``, ``search_result``, ``list``), 402 ``card_error`` with
``decline_code`` and the failed ``payment_intent``, 400 ``invalid_request_error``, 404
``resource_missing``, 503 ``api_error`` for an injected outage. The API key's suffix names
the account, so two keys are two merchants.

Tokenization, as Stripe.js does it: ``POST /v1/payment_methods`` (``type=card``, ``card[number]``,
``card[exp_month]``, ``card[exp_year]``, ``card[cvc]``) and the legacy ``POST /v1/tokens``
(``card[...]``) take a publishable key ``pk_test_…`` (as ``key=`` in the form, the way Stripe.js
sends it, or as a Bearer key) or a secret key; ``GET /v1/payment_methods/{pm}`` and
``GET /v1/tokens/{tok}`` (with ``used``) take a secret key. A PaymentIntent create with
``payment_method=pm_…`` or ``payment_method_data[card][token]=tok_…`` charges the stored card
through the same engine path as card data (Stripe's test PANs keep their declines and 3DS);
it uses up a ``tok_`` and a PaymentMethod no customer holds, whatever the outcome. Unknown or
used-up tokens get Stripe's 400 ``invalid_request_error`` bodies (``resource_missing`` on the
token's param, ``token_already_used``, ``payment_method_unexpected_state``) and charge nothing;
an idempotent replay of the request that used the token still answers as the first time.
The fake keeps the PAN of a tokenized card in memory (it is the gateway's vault), never its
CVC: ``checks.cvc_check`` only says whether one was given.

In-process helpers for tests: ``create_payment_method(number, …)`` and ``create_token(…)``
return a ``pm_…``/``tok_…`` (for the account of ``api_key``, or usable by any account);
``attach_payment_method`` gives a PaymentMethod a customer (so it is reusable).
``intent_forms[pi_id]`` / ``last_intent_form`` keep the form each PaymentIntent create received
(card number and CVC masked) and ``intent_sources[pi_id]`` says what it was paid with
(``card`` or the ``pm_``/``tok_`` id), so a test can show a token payment sent no card data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
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
from strongbox.connectors.simulator.cards import card_behaviour
from strongbox.connectors.simulator.engine import ChargeRecord, ChargeStatus, SimulatorEngine
from strongbox.core.ids import random_token
from strongbox.core.luhn import luhn_valid
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
#: A legacy Token's ``card.brand`` spells the PaymentMethod brand words the old way.
LEGACY_BRANDS = {
    "visa": "Visa",
    "mastercard": "MasterCard",
    "amex": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "unionpay": "UnionPay",
    "unknown": "Unknown",
}
PM_REUSED = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was detached "
    "from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must "
    "attach it to a Customer first."
)
TOKEN_PARAM = "payment_method_data[card][token]"


@dataclass(slots=True)
class StoredCard:
    """A tokenized card as the fake keeps it: the PAN (Stripe's vault), never the CVC."""

    number: Secret[str]
    exp_month: int
    exp_year: int
    brand: str
    funding: str
    country: str
    fingerprint: str
    cvc_given: bool

    @property
    def last4(self) -> str:
        return self.number.reveal()[-4:]


@dataclass(slots=True)
class Tokenized:
    """A PaymentMethod (``pm_``) or a legacy Token (``tok_``) and its card."""

    id: str
    kind: Literal["payment_method", "token"]
    account: str | None  # None: made in-process without a key, usable by any account
    card: StoredCard
    created: int
    card_id: str = ""  # a Token's card object id (card_…)
    customer: str | None = None
    used: bool = False

    def visible_to(self, account: str) -> bool:
        return self.account is None or self.account == account


def _error(status: int, type_: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": {"type": type_, "message": message, **extra}}
    return JSONResponse(body, status_code=status)


def _card_error(code: str, message: str, field: str) -> JSONResponse:
    return _error(402, "card_error", message, code=code, param=f"card[{field}]")


def account_of_key(key: str, *, publishable: bool = False) -> str | None:
    """The account a test key belongs to: ``sk_test_X`` (or ``pk_test_X``) is ``acct_X``."""
    for prefix in ("sk_test_", "pk_test_") if publishable else ("sk_test_",):
        if key.startswith(prefix) and len(key) > len(prefix):
            return "acct_" + key.removeprefix(prefix)
    return None


def _masked(form: dict[str, str]) -> dict[str, str]:
    """A PaymentIntent form as the fake records it: no card number or CVC kept."""
    out = dict(form)
    number = out.get("payment_method_data[card][number]")
    if number is not None:
        out["payment_method_data[card][number]"] = "••••" + number[-4:]
    if "payment_method_data[card][cvc]" in out:
        out["payment_method_data[card][cvc]"] = "•••"
    return out


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
        self.tokenized: dict[str, Tokenized] = {}  # pm_/tok_ id -> what it stands for
        self.intent_forms: dict[str, dict[str, str]] = {}  # pi id -> its create form (masked)
        self.intent_sources: dict[str, str] = {}  # pi id -> "card" or the pm_/tok_ it used
        self.intent_payment_methods: dict[str, str] = {}  # pi id -> its PaymentMethod
        self.last_intent_form: dict[str, str] | None = None
        # ``GET /v1/balance_transactions``: the fee it reports, and outages to answer first.
        self.fee_bps = 0
        self.fee_fixed = 0
        self.balance_outages = 0
        self._fingerprint_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.app = self._build()

    def reset(self) -> None:
        """Forget the fake's own records (the engine has its own ``reset``)."""
        with self._lock:
            self.metadata.clear()
            self.refunds.clear()
            self.seen_headers.clear()
            self.tokenized.clear()
            self.intent_forms.clear()
            self.intent_sources.clear()
            self.intent_payment_methods.clear()
            self.last_intent_form = None
            self.fee_bps = self.fee_fixed = self.balance_outages = 0

    # ------------------------------------------------------------------ tokenization

    def create_payment_method(
        self,
        number: str,
        exp_month: int = 12,
        exp_year: int = 2039,
        *,
        cvc: str | None = None,
        api_key: str | None = None,
    ) -> str:
        """A ``pm_…`` for this card, as Stripe.js would make it (in process, no HTTP).

        With ``api_key`` (``pk_test_…``/``sk_test_…``) it belongs to that key's account;
        without, any account may use it. Raises ``ValueError`` for a card Stripe refuses."""
        return self._tokenize_in_process(
            "payment_method", number, exp_month, exp_year, cvc, api_key
        )

    def create_token(
        self,
        number: str,
        exp_month: int = 12,
        exp_year: int = 2039,
        *,
        cvc: str | None = None,
        api_key: str | None = None,
    ) -> str:
        """A single-use legacy ``tok_…`` for this card (see ``create_payment_method``)."""
        return self._tokenize_in_process("token", number, exp_month, exp_year, cvc, api_key)

    def attach_payment_method(self, pm_id: str, customer: str = "cus_test") -> None:
        """Give a PaymentMethod a customer, as ``POST /v1/payment_methods/{pm}/attach`` does."""
        with self._lock:
            item = self.tokenized[pm_id]
            assert item.kind == "payment_method", f"{pm_id} is not a PaymentMethod"
            assert not item.used, f"{pm_id} was used without a customer"
            item.customer = customer

    def _tokenize_in_process(
        self,
        kind: Literal["payment_method", "token"],
        number: str,
        exp_month: int,
        exp_year: int,
        cvc: str | None,
        api_key: str | None,
    ) -> str:
        account = None if api_key is None else account_of_key(api_key, publishable=True)
        if api_key is not None and account is None:
            raise ValueError("not a Stripe test key")
        form = {
            "card[number]": number,
            "card[exp_month]": str(exp_month),
            "card[exp_year]": str(exp_year),
        }
        if cvc is not None:
            form["card[cvc]"] = cvc
        card = self.stored_card(form)
        if isinstance(card, JSONResponse):
            raise ValueError(f"Stripe would refuse this card ({bytes(card.body).decode()})")
        return self.store(kind, account, card).id

    def stored_card(self, form: dict[str, str]) -> StoredCard | JSONResponse:
        """The card of a tokenization form, or Stripe's error for it."""
        number = form.get("card[number]", "").replace(" ", "")
        for name in ("card[number]", "card[exp_month]", "card[exp_year]"):
            if not form.get(name):
                return _error(
                    400,
                    "invalid_request_error",
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                )
        if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
            return _card_error("incorrect_number", "Your card number is incorrect.", "number")
        try:
            exp_month = int(form["card[exp_month]"])
        except ValueError:
            exp_month = 0
        if not 1 <= exp_month <= 12:
            return _card_error(
                "invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month"
            )
        try:
            exp_year = int(form["card[exp_year]"])
        except ValueError:
            exp_year = 0
        exp_year = exp_year + 2000 if 0 < exp_year < 100 else exp_year
        today = datetime.now(UTC).date()
        if not today.year <= exp_year <= today.year + 50 or (
            exp_year == today.year and exp_month < today.month
        ):
            return _card_error(
                "invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year"
            )
        cvc = form.get("card[cvc]")
        if cvc is not None and not (cvc.isdigit() and 3 <= len(cvc) <= 4):
            return _card_error("invalid_cvc", "Your card's security code is invalid.", "cvc")
        behaviour = card_behaviour(number, exp_month, exp_year, today)
        digest = hmac.new(self._fingerprint_key, number.encode(), hashlib.sha256).digest()
        fingerprint = "".join(c for c in base64.b64encode(digest).decode() if c.isalnum())[:16]
        return StoredCard(
            number=Secret(number),
            exp_month=exp_month,
            exp_year=exp_year,
            brand=behaviour.brand,
            funding=behaviour.funding,
            country="US",
            fingerprint=fingerprint,
            cvc_given=bool(cvc),
        )

    def store(
        self, kind: Literal["payment_method", "token"], account: str | None, card: StoredCard
    ) -> Tokenized:
        prefix = "pm_" if kind == "payment_method" else "tok_"
        item = Tokenized(
            id=prefix + random_token(24),
            kind=kind,
            account=account,
            card=card,
            created=int(datetime.now(UTC).timestamp()),
            card_id="card_" + random_token(24) if kind == "token" else "",
        )
        with self._lock:
            self.tokenized[item.id] = item
        return item

    def payment_method_object(self, item: Tokenized) -> dict[str, Any]:
        card = item.card
        return {
            "id": item.id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": None,
                "name": None,
                "phone": None,
            },
            "card": {
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "unchecked" if card.cvc_given else None,
                },
                "country": card.country,
                "display_brand": card.brand,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "fingerprint": card.fingerprint,
                "funding": card.funding,
                "generated_from": None,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": item.created,
            "customer": item.customer,
            "livemode": False,
            "metadata": {},
            "type": "card",
        }

    def token_object(self, item: Tokenized) -> dict[str, Any]:
        card = item.card
        return {
            "id": item.id,
            "object": "token",
            "card": {
                "id": item.card_id,
                "object": "card",
                "address_city": None,
                "address_country": None,
                "address_line1": None,
                "address_line1_check": None,
                "address_line2": None,
                "address_state": None,
                "address_zip": None,
                "address_zip_check": None,
                "brand": LEGACY_BRANDS.get(card.brand, "Unknown"),
                "country": card.country,
                "cvc_check": "unchecked" if card.cvc_given else None,
                "dynamic_last4": None,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "fingerprint": card.fingerprint,
                "funding": card.funding,
                "last4": card.last4,
                "metadata": {},
                "name": None,
                "tokenization_method": None,
                "wallet": None,
            },
            "client_ip": None,
            "created": item.created,
            "livemode": False,
            "type": "card",
            "used": item.used,
        }

    def usable(self, account: str, key: str, token_id: str, param: str) -> Tokenized | JSONResponse:
        """The PaymentMethod/Token a PaymentIntent names, or Stripe's 400 for it. A used one
        passes only for an idempotent replay of the request that used it."""
        kind = "payment_method" if param == "payment_method" else "token"
        with self._lock:
            item = self.tokenized.get(token_id)
        if item is None or item.kind != kind or not item.visible_to(account):
            what = "PaymentMethod" if kind == "payment_method" else "token"
            return _error(
                400,
                "invalid_request_error",
                f"No such {what}: '{token_id}'",
                code="resource_missing",
                param=param,
            )
        if item.used and self.engine.operation(key, account) is None:
            if kind == "token":
                return _error(
                    400,
                    "invalid_request_error",
                    f"You cannot use a Stripe token more than once: {token_id}.",
                    code="token_already_used",
                )
            return _error(
                400,
                "invalid_request_error",
                PM_REUSED,
                code="payment_method_unexpected_state",
                param="payment_method",
            )
        return item

    def used_up(self, item: Tokenized) -> None:
        """A charge attempt spends a Token and a PaymentMethod that no customer holds."""
        with self._lock:
            if item.kind == "token" or item.customer is None:
                item.used = True

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
            "payment_method": self.intent_payment_methods.get(intent_id),
            "payment_method_types": ["card"],
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
            if not auth.startswith("Bearer "):
                return None
            return account_of_key(auth.removeprefix("Bearer ").strip())

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
                pm_id = form.get("payment_method")
                token_id = form.get(TOKEN_PARAM)
                card_data = form.get("payment_method_data[type]") == "card"
                if form.get("confirm") != "true" or not (pm_id or card_data):
                    return _error(400, "invalid_request_error", "confirm with card data")
                source: Tokenized | None = None
                if pm_id is not None:
                    if any(k.startswith("payment_method_data[") for k in form):
                        return _error(
                            400,
                            "invalid_request_error",
                            "You cannot provide both payment_method and payment_method_data.",
                            code="parameter_invalid",
                        )
                    found = self.usable(account, key, pm_id, "payment_method")
                    held = found.customer if isinstance(found, Tokenized) else None
                    if held is not None and form.get("customer") != held:
                        # Stripe charges a customer's PaymentMethod only with that customer.
                        return _error(
                            400,
                            "invalid_request_error",
                            f"The provided PaymentMethod {pm_id} belongs to the Customer "
                            f"{held}. Please include the Customer in the `customer` parameter "
                            "on the PaymentIntent.",
                            param="payment_method",
                        )
                elif token_id is not None:
                    if "payment_method_data[card][number]" in form:
                        return _error(
                            400,
                            "invalid_request_error",
                            "You cannot provide both a card token and card details.",
                            code="parameter_invalid",
                            param=TOKEN_PARAM,
                        )
                    found = self.usable(account, key, token_id, TOKEN_PARAM)
                else:
                    found = None
                if isinstance(found, JSONResponse):
                    return found
                source = found
                try:
                    amount = int(form["amount"])
                    if source is not None:
                        card = CardData(
                            number=source.card.number,
                            exp_month=source.card.exp_month,
                            exp_year=source.card.exp_year,
                        )
                    else:
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
                intent_id = pi_id(ref)
                if source is not None:
                    self.used_up(source)
                    if source.kind == "payment_method":
                        payment_method = source.id
                    elif intent_id in self.intent_payment_methods:
                        payment_method = self.intent_payment_methods[intent_id]
                    else:  # Stripe makes a PaymentMethod of the token's card
                        made = self.store("payment_method", account, source.card)
                        self.used_up(made)
                        payment_method = made.id
                masked = _masked(form)
                with self._lock:
                    self.metadata.setdefault(intent_id, metadata)
                    self.intent_forms.setdefault(intent_id, masked)
                    self.intent_sources.setdefault(
                        intent_id, "card" if source is None else source.id
                    )
                    if source is not None:
                        self.intent_payment_methods.setdefault(intent_id, payment_method)
                    self.last_intent_form = masked
                charge = engine.charge(ref)
                assert charge is not None
                intent = self.intent(charge)
                if result.status is OperationStatus.DECLINED:
                    err = self.decline_error(charge)
                    return JSONResponse({"error": {**err, "payment_intent": intent}}, 402)
                return JSONResponse(intent)

            return await guarded(OperationKind.AUTHORIZE, request, process)

        def tokenizing_account(request: Request, form: dict[str, str]) -> str | None:
            """Stripe.js sends the publishable key as ``key=`` in the form."""
            key = form.get("key") or request.headers.get("authorization", "").removeprefix(
                "Bearer "
            )
            return account_of_key(key.strip(), publishable=True)

        @app.post("/v1/payment_methods")
        async def create_payment_method(request: Request) -> Response:
            form = await form_of(request)
            account = tokenizing_account(request, form)
            if account is None:
                return unauthorized()
            if form.get("type") != "card":
                return _error(
                    400,
                    "invalid_request_error",
                    "Missing required param: type." if "type" not in form else "Invalid type.",
                    code="parameter_missing" if "type" not in form else "parameter_invalid",
                    param="type",
                )
            card = self.stored_card(form)
            if isinstance(card, JSONResponse):
                return card
            return JSONResponse(
                self.payment_method_object(self.store("payment_method", account, card))
            )

        def retrieved(
            request: Request,
            item_id: str,
            kind: Literal["payment_method", "token"],
            render: Callable[[Tokenized], dict[str, Any]],
        ) -> Response:
            """``GET /v1/payment_methods/{id}`` or ``/v1/tokens/{id}``: the object, or 404."""
            account = account_of(request)
            if account is None:
                return unauthorized()
            with self._lock:
                item = self.tokenized.get(item_id)
            if item is None or item.kind != kind or not item.visible_to(account):
                noun = "PaymentMethod" if kind == "payment_method" else "token"
                return _error(
                    404,
                    "invalid_request_error",
                    f"No such {noun}: '{item_id}'",
                    code="resource_missing",
                    param="payment_method" if kind == "payment_method" else "token",
                )
            return JSONResponse(render(item))

        @app.get("/v1/payment_methods/{pm_id}")
        async def retrieve_payment_method(pm_id: str, request: Request) -> Response:
            return retrieved(request, pm_id, "payment_method", self.payment_method_object)

        @app.post("/v1/tokens")
        async def create_token(request: Request) -> Response:
            form = await form_of(request)
            account = tokenizing_account(request, form)
            if account is None:
                return unauthorized()
            card = self.stored_card(form)
            if isinstance(card, JSONResponse):
                return card
            return JSONResponse(self.token_object(self.store("token", account, card)))

        @app.get("/v1/tokens/{token_id}")
        async def retrieve_token(token_id: str, request: Request) -> Response:
            return retrieved(request, token_id, "token", self.token_object)

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

        @app.get("/v1/balance_transactions")
        async def list_balance_transactions(request: Request) -> Response:
            account = account_of(request)
            if account is None:
                return unauthorized()
            with self._lock:
                if self.balance_outages > 0:
                    self.balance_outages -= 1
                    return _error(503, "api_error", "Stripe is temporarily unavailable.")
            q = request.query_params
            try:
                gte, lt = int(q["created[gte]"]), int(q["created[lt]"])
                limit = int(q.get("limit", "10"))
            except (KeyError, ValueError):
                return _error(400, "invalid_request_error", "Invalid created or limit")
            expand = "data.source" in q.getlist("expand[]")
            items = [
                t for t in self.balance_transactions(account, expand) if gte <= t["created"] < lt
            ]
            items.sort(key=lambda t: (-t["created"], t["id"]))  # newest first, like Stripe
            after = q.get("starting_after")
            if after is not None:
                ids = [t["id"] for t in items]
                if after not in ids:
                    return _error(400, "invalid_request_error", f"No such object: '{after}'")
                items = items[ids.index(after) + 1 :]
            page = items[:limit]
            return JSONResponse(
                {
                    "object": "list",
                    "data": page,
                    "has_more": len(items) > limit,
                    "url": "/v1/balance_transactions",
                }
            )

        return app

    def balance_transactions(self, account: str, expand: bool) -> list[dict[str, Any]]:
        """The account's charges and refunds as balance transactions, the fee being
        ``fee_bps`` of the amount (rounded half up) plus ``fee_fixed``."""
        out: list[dict[str, Any]] = []

        def txn(ref: str, kind: str, amount: int, fee: int, currency: str, at: datetime,
                source: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
            return {
                "id": "txn_" + ref,
                "object": "balance_transaction",
                "amount": amount,
                "fee": fee,
                "net": amount - fee,
                "currency": currency,
                "created": int(at.timestamp()),
                "type": kind,
                "reporting_category": kind,
                "status": "pending",
                "source": source if expand else source["id"],
            }

        for c in self.engine.charges():
            if c.merchant_id != account or c.captured_amount <= 0:
                continue
            amount = c.captured_amount
            fee = (amount * self.fee_bps + 5000) // 10000 + self.fee_fixed
            source = {"id": "ch_" + c.reference, "object": "charge"}
            source["payment_intent"] = pi_id(c.reference)
            out.append(txn(c.reference, "charge", amount, fee, c.currency, c.created_at, source))
        for op in self.engine.operations():
            if op.merchant_id != account or op.kind is not OperationKind.REFUND:
                continue
            if op.status is not OperationStatus.REFUNDED or op.amount is None:
                continue
            source = {
                "id": "re_" + op.reference,
                "object": "refund",
                "payment_intent": pi_id(op.charge_reference),
            }
            out.append(txn(op.reference, "refund", -op.amount, 0, op.currency, op.created_at,
                           source))  # fmt: skip
        return out
