"""Stripe PaymentIntents API (https://docs.stripe.com/api/payment_intents), over httpx.

Wire format: form-encoded POST bodies with bracketed keys (``payment_method_data[card][number]``),
``Authorization: Bearer sk_…``, an ``Idempotency-Key`` header on every POST (our attempt's key,
so a retry replays Stripe's stored result and never charges twice), JSON responses, errors as
``{"error": {"type", "code", "decline_code", "message", "payment_intent"}}``.

Operations
----------
* authorize: ``POST /v1/payment_intents`` with ``confirm=true`` and ``capture_method``
  ``automatic`` or ``manual``; card data as ``payment_method_data``. Our idempotency key and
  payment id go into ``metadata`` so the status lookup can find the PaymentIntent.
* authorize with a gateway token (``GATEWAY_TOKEN``; a card Stripe.js/Elements tokenized, so
  no card data passes through us): a PaymentMethod ``pm_…`` goes as ``payment_method=pm_…``,
  a legacy Token ``tok_…`` as ``payment_method_data[type]=card`` and
  ``payment_method_data[card][token]=tok_…``; everything else in the request is as for card
  data. Any other token is refused with ``InvalidTokenError`` before anything is sent.
* describe a token: ``GET /v1/payment_methods/{pm}`` or ``GET /v1/tokens/{tok}`` (whose legacy
  brand names, ``Visa``, ``MasterCard``, ``American Express``…, map to the PaymentMethod words
  ``visa``, ``mastercard``, ``amex``…). A ``tok_…`` is single use, and so is a ``pm_…`` not
  attached to a Stripe customer (``reusable=False``); an attached one is reusable, and is
  handed back as ``pm_…|cus_…`` (``TokenDetails.token``) to be stored, then sent as
  ``payment_method=pm_…&customer=cus_…`` (Stripe charges it only with its customer). A token
  that is not a card is ``UnsupportedTokenError``. Stripe never returns the card number;
  fingerprint, funding and issuing country come as it gives them.
* capture: ``POST /v1/payment_intents/{id}/capture`` (``amount_to_capture``);
  void: ``POST /v1/payment_intents/{id}/cancel``; refund: ``POST /v1/refunds``.
* status: by reference ``GET /v1/payment_intents/{id}``; an authorization whose answer was lost
  has no reference yet, so it is found with ``GET /v1/payment_intents/search`` on
  ``metadata['strongbox_idempotency_key']``; refunds by listing the PaymentIntent's refunds.
  Stripe's search index can lag up to a minute: the recovery worker looks up only attempts
  older than ``STRONGBOX_RECOVERY_AFTER_SECONDS`` (30 s by default, keep it ≥ 60 s with Stripe).

Errors
------
* no connection / connect timeout, 429, 503 (unless ``Stripe-Should-Retry: false``):
  ``RetryableError`` (Stripe did not process the request);
* read timeout or a dropped connection after sending, 409 (the key is in use by a request
  still executing), 500/502/504: ``UnknownOutcomeError`` for POSTs (Stripe may have executed
  it; a 500 is stored on the key), ``RetryableError`` for GETs (lookups change nothing);
* 402 ``card_error``: a ``DECLINED`` result with Stripe's decline code (a card behind a token
  too);
* a token Stripe cannot use: ``InvalidTokenError`` (a ``TerminalError``): ``resource_missing``
  on ``payment_method`` or ``payment_method_data[card][token]`` (no such PaymentMethod/Token on
  this account), ``token_already_used`` (a ``tok_`` is single use),
  ``payment_method_unexpected_state`` or the message "…may not be used again…" on
  ``payment_method`` (an unattached PaymentMethod already used once); on describe, a 404 or a
  Token whose ``used`` is true;
* other 4xx (invalid request, authentication, idempotency_error): ``TerminalError``.

Status mapping (conservative): ``requires_capture`` → AUTHORIZED, ``succeeded`` → CAPTURED,
``requires_action`` → REQUIRES_ACTION, ``canceled`` → VOIDED (refused captures stay as they
were), ``requires_payment_method`` with ``last_payment_error`` → DECLINED, anything else
(``processing``, unknown words) → PENDING.
"""

from __future__ import annotations

from typing import Any

import httpx

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CaptureRequest,
    Connector,
    Credentials,
    InvalidTokenError,
    NextAction,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RetryableError,
    StatusRequest,
    TerminalError,
    TokenDetails,
    TokenRequest,
    UnknownOutcomeError,
    UnsupportedTokenError,
    VoidRequest,
)
from strongbox.connectors.http import gateway_client, json_object, obj, send
from strongbox.connectors.stripe import reports
from strongbox.connectors.stripe.tokens import (
    CUSTOMER,
    FUNDING,
    MAX_STORED_TOKEN,
    PM_BRANDS,
    TOKEN_BRANDS,
    decline,
    int_or,
    path,
    raise_for_token_error,
    token_form,
    token_kind,
)

DEFAULT_BASE_URL = "https://api.stripe.com"
KEY_METADATA = "strongbox_idempotency_key"
PAYMENT_METADATA = "strongbox_payment_id"

_PI_STATUS = {
    "requires_capture": OperationStatus.AUTHORIZED,
    "succeeded": OperationStatus.CAPTURED,
    "requires_action": OperationStatus.REQUIRES_ACTION,
    "canceled": OperationStatus.VOIDED,
}

_REFUND_STATUS = {
    "succeeded": OperationStatus.REFUNDED,
    "pending": OperationStatus.PENDING,
    "requires_action": OperationStatus.PENDING,
    "failed": OperationStatus.DECLINED,
    "canceled": OperationStatus.DECLINED,
}


class StripeConnector(Connector):
    name = "stripe"
    capabilities = (
        Capability.MANUAL_CAPTURE
        | Capability.PARTIAL_CAPTURE
        | Capability.VOID
        | Capability.REFUND
        | Capability.PARTIAL_REFUND
        | Capability.MULTIPLE_REFUNDS
        | Capability.THREE_DS
        | Capability.STATUS_LOOKUP
        | Capability.GATEWAY_TOKEN
        | Capability.IDEMPOTENT_REPLAY
    )
    credential_fields = ("api_key",)

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = gateway_client(
            base_url=self.base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transport=transport,
            headers={"User-Agent": "strongbox-stripe-connector", "Stripe-Version": "2024-06-20"},
        )

    def __repr__(self) -> str:
        return f"StripeConnector(base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ operations

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        form: dict[str, str] = {
            "amount": str(request.amount),
            "currency": request.currency.lower(),
            "confirm": "true",
            "capture_method": "automatic" if request.capture else "manual",
            "payment_method_types[]": "card",
        }
        if request.token is not None:
            form.update(token_form(request.token))
        else:
            card = request.require_card()
            form["payment_method_data[type]"] = "card"
            form["payment_method_data[card][number]"] = card.number.reveal()
            form["payment_method_data[card][exp_month]"] = str(card.exp_month)
            form["payment_method_data[card][exp_year]"] = str(card.exp_year)
            if card.cvc is not None:
                form["payment_method_data[card][cvc]"] = card.cvc.reveal()
            if card.holder_name:
                form["payment_method_data[billing_details][name]"] = card.holder_name
        form[f"metadata[{KEY_METADATA}]"] = request.idempotency_key
        form[f"metadata[{PAYMENT_METADATA}]"] = request.payment_id
        if request.return_url:
            form["return_url"] = request.return_url
        if request.description:
            form["description"] = request.description
        for key, value in request.metadata.items():
            if key not in (KEY_METADATA, PAYMENT_METADATA):
                form[f"metadata[{key}]"] = value
        body = self._post(
            "/v1/payment_intents",
            form,
            request.idempotency_key,
            request.credentials,
            decline=True,
            token=request.token is not None,
        )
        return self._intent_result(body)

    def capture(self, request: CaptureRequest) -> OperationResult:
        body = self._post(
            f"/v1/payment_intents/{path(request.gateway_reference)}/capture",
            {"amount_to_capture": str(request.amount)},
            request.idempotency_key,
            request.credentials,
        )
        return self._intent_result(body)

    def void(self, request: VoidRequest) -> OperationResult:
        body = self._post(
            f"/v1/payment_intents/{path(request.gateway_reference)}/cancel",
            {},
            request.idempotency_key,
            request.credentials,
        )
        return self._intent_result(body)

    def refund(self, request: RefundRequest) -> OperationResult:
        form = {
            "payment_intent": request.gateway_reference,
            "amount": str(request.amount),
            f"metadata[{KEY_METADATA}]": request.idempotency_key,
        }
        if request.reason in ("duplicate", "fraudulent", "requested_by_customer"):
            form["reason"] = request.reason
        body = self._post("/v1/refunds", form, request.idempotency_key, request.credentials)
        return self._refund_result(body, request.gateway_reference)

    def get_status(self, request: StatusRequest) -> OperationResult:
        creds = request.credentials
        ref = request.gateway_reference
        not_found = OperationResult(
            status=OperationStatus.NOT_FOUND, gateway_reference=ref, raw_status="not_found"
        )
        if request.kind is OperationKind.AUTHORIZE:
            intent = self._find_intent(request.idempotency_key, creds)
            return not_found if intent is None else self._intent_result(intent)
        if not ref:
            return not_found
        if request.kind is OperationKind.REFUND:
            listing = self._get("/v1/refunds", {"payment_intent": ref, "limit": "100"}, creds)
            for item in listing.get("data") or []:
                if (item.get("metadata") or {}).get(KEY_METADATA) == request.idempotency_key:
                    return self._refund_result(item, ref)
            return not_found
        intent = self._get(f"/v1/payment_intents/{path(ref)}", None, creds, missing_ok=True)
        if not intent:
            return not_found
        status = intent.get("status")
        if request.kind is OperationKind.CAPTURE and status == "succeeded":
            return self._intent_result(intent)
        if request.kind is OperationKind.VOID and status == "canceled":
            return self._intent_result(intent)
        if status == "processing":
            return self._intent_result(intent)  # PENDING: ask again later
        return not_found

    def describe_token(self, request: TokenRequest) -> TokenDetails:
        token = request.token
        stored: str | None = None
        kind = token_kind(token)
        path = f"/v1/payment_methods/{token}" if kind == "pm" else f"/v1/tokens/{token}"
        body = self._get(path, None, request.credentials, missing_ok=True)
        if not body:
            raise InvalidTokenError(
                "Stripe does not know this token on this account", gateway_code="resource_missing"
            )
        if body.get("type", "card") != "card":  # a bank account token, a SEPA PaymentMethod
            raise UnsupportedTokenError(
                "this Stripe token is not a card", gateway_code="not_a_card"
            )
        card = obj(body.get("card"))
        if kind == "tok":
            if body.get("used") is True:
                raise InvalidTokenError(
                    "this Stripe token was already used", gateway_code="token_already_used"
                )
            brand = TOKEN_BRANDS.get(str(card.get("brand")), "unknown")
            reusable = False
        else:
            brand = str(card.get("brand"))
            brand = brand if brand in PM_BRANDS else "unknown"
            # Stripe lets a PaymentMethod that no customer holds pay once only; one that a
            # customer holds pays again and again, but only with that customer named.
            customer = body.get("customer")
            if isinstance(customer, dict):  # expanded
                customer = customer.get("id")
            reusable = customer is not None
            if reusable:
                if not isinstance(customer, str) or not CUSTOMER.fullmatch(customer):
                    raise TerminalError(
                        "Stripe named this PaymentMethod's customer in an unknown form",
                        gateway_code="unexpected_customer",
                    )
                stored = f"{token}|{customer}"
                if len(stored) > MAX_STORED_TOKEN:
                    raise UnsupportedTokenError(
                        "this Stripe PaymentMethod and its customer are too long to store",
                        gateway_code="token_too_long",
                    )
        last4 = card.get("last4")
        exp_month, exp_year = int_or(card.get("exp_month")), int_or(card.get("exp_year"))
        if not isinstance(last4, str) or exp_month is None or exp_year is None:
            raise RetryableError(
                "Stripe described the token without its card details", gateway_code="bad_response"
            )
        funding = card.get("funding")
        country = card.get("country")
        fingerprint = card.get("fingerprint")
        return TokenDetails(
            brand=brand,
            last4=last4,
            exp_month=exp_month,
            exp_year=exp_year,
            funding=funding if funding in FUNDING else "unknown",
            country=country if isinstance(country, str) and country else None,
            fingerprint=fingerprint if isinstance(fingerprint, str) and fingerprint else None,
            reusable=reusable,
            token=stored,
        )

    # ------------------------------------------------------------------ mapping

    def _find_intent(self, key: str, creds: Credentials) -> dict[str, Any] | None:
        escaped = key.replace("\\", "\\\\").replace("'", "\\'")
        found = self._get(
            "/v1/payment_intents/search",
            {"query": f"metadata['{KEY_METADATA}']:'{escaped}'", "limit": "10"},
            creds,
        )
        data = found.get("data") or []
        matches = [d for d in data if (d.get("metadata") or {}).get(KEY_METADATA) == key]
        return matches[0] if matches else None

    @staticmethod
    def _intent_result(intent: dict[str, Any]) -> OperationResult:
        raw = str(intent.get("status") or "")
        ref = intent.get("id") if isinstance(intent.get("id"), str) else None
        amount = int_or(intent.get("amount"))
        error = intent.get("last_payment_error") or None
        if raw == "requires_payment_method" and isinstance(error, dict):
            return decline(error, ref, amount, raw)
        status = _PI_STATUS.get(raw, OperationStatus.PENDING)
        if status is OperationStatus.CAPTURED:
            amount = int_or(intent.get("amount_received"), amount)
        next_action = None
        if status is OperationStatus.REQUIRES_ACTION:
            action = intent.get("next_action") or {}
            url = ((action.get("redirect_to_url") or {}).get("url")) if action else None
            if not isinstance(url, str) or ref is None:
                status = OperationStatus.PENDING  # an action we cannot hand to the customer
            else:
                next_action = NextAction(redirect_url=url, reference=ref)
        return OperationResult(
            status=status,
            gateway_reference=ref,
            amount=amount,
            next_action=next_action,
            raw_status=raw or None,
            network_transaction_id=intent.get("latest_charge")
            if isinstance(intent.get("latest_charge"), str)
            else None,
        )

    @staticmethod
    def _refund_result(refund: dict[str, Any], payment_ref: str) -> OperationResult:
        raw = str(refund.get("status") or "")
        status = _REFUND_STATUS.get(raw, OperationStatus.PENDING)
        return OperationResult(
            status=status,
            gateway_reference=payment_ref,
            amount=int_or(refund.get("amount")),
            decline_code=str(refund.get("failure_reason") or "refund_failed")
            if status is OperationStatus.DECLINED
            else None,
            message="The refund failed at Stripe." if status is OperationStatus.DECLINED else None,
            raw_status=raw or None,
            details={"refund": refund.get("id")},
        )

    def balance_transactions(
        self, credentials: Credentials, *, since: int, until: int
    ) -> list[dict[str, Any]]:
        """Stripe's settlement data for ``[since, until)`` (``reports.py``)."""
        return reports.balance_transactions(self._get, credentials, since=since, until=until)

    # ------------------------------------------------------------------ transport

    def _headers(self, creds: Credentials, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {creds.secret('api_key')}"}
        account = creds.settings.get("stripe_account")
        if account:
            headers["Stripe-Account"] = account
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def _post(
        self,
        path: str,
        form: dict[str, str],
        key: str,
        creds: Credentials,
        *,
        decline: bool = False,
        token: bool = False,
    ) -> dict[str, Any]:
        response = send(
            self._client, "Stripe", "POST", path, data=form, headers=self._headers(creds, key)
        )
        body = json_object(response)
        if token and 400 <= response.status_code < 500 and response.status_code != 402:
            raise_for_token_error(obj(body.get("error")))
        if response.status_code == 402 and decline:
            error = obj(body.get("error"))
            intent = obj(error.get("payment_intent"))
            ref = intent.get("id") if isinstance(intent.get("id"), str) else None
            return {
                "id": ref,
                "status": "requires_payment_method",
                "amount": intent.get("amount"),
                "last_payment_error": error,
            }
        self._raise_for_status(response, body, sent=True)
        return body

    def _get(
        self,
        path: str,
        params: dict[str, str] | None,
        creds: Credentials,
        *,
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        try:
            response = self._client.get(path, params=params, headers=self._headers(creds))
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"Stripe lookup failed ({type(exc).__name__})", gateway_code="network_error"
            ) from exc
        body = json_object(response)
        if missing_ok and response.status_code == 404:
            return {}
        self._raise_for_status(response, body, sent=False)
        return body

    @staticmethod
    def _raise_for_status(response: httpx.Response, body: dict[str, Any], *, sent: bool) -> None:
        status = response.status_code
        if 200 <= status < 300:
            if not body:
                raise (UnknownOutcomeError if sent else RetryableError)(
                    "Stripe answered with an unreadable body", gateway_code="bad_response"
                )
            return
        error = obj(body.get("error"))
        code = error.get("code") if isinstance(error.get("code"), str) else None
        type_ = error.get("type") if isinstance(error.get("type"), str) else None
        message = f"Stripe answered HTTP {status}"
        if isinstance(error.get("message"), str):
            message = f"{message}: {error['message']}"
        gateway_code = code or type_ or f"http_{status}"
        should_retry = response.headers.get("Stripe-Should-Retry")
        if status == 429 or (status == 503 and should_retry != "false"):
            raise RetryableError(message, gateway_code=gateway_code)
        if status == 409 or status >= 500 or status < 400:
            raise (UnknownOutcomeError if sent else RetryableError)(
                message, gateway_code=gateway_code
            )
        if status in (401, 403):
            raise TerminalError(
                f"Stripe refused the credentials (HTTP {status})", gateway_code="authentication"
            )
        raise TerminalError(message, gateway_code=gateway_code)
