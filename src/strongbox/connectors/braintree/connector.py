"""Braintree through the official ``braintree`` Python SDK (XML API over ``requests``).

Credentials per connector account: ``private_key`` (secret) and the settings ``merchant_id``,
``public_key``, optionally ``merchant_account_id`` and its ``currency`` (Braintree charges in
the merchant account's currency; a request in another currency is refused before sending).
The environment is ``sandbox``, ``production`` or a base URL such as ``http://127.0.0.1:9000``
(a local fake), as ``STRONGBOX_BRAINTREE_ENVIRONMENT``.

Idempotency. Braintree's transaction API takes no idempotency key for a sale, so our key is
the transaction's ``order_id``: before a sale the connector searches for a transaction with
that ``order_id`` and, if there is one, answers from it (same amount) or refuses the request
(another amount: ``idempotency_error``). Refunds are credit transactions with the refund's key
as ``order_id``, found the same way. ``submit_for_settlement`` and ``void`` carry Braintree's
``api_request_key``. So a retry after a lost answer never charges twice, provided the lost
request is visible to the search (the recovery worker looks up after
``STRONGBOX_RECOVERY_AFTER_SECONDS``).

Gateway tokens (``GATEWAY_TOKEN``). Besides card data, ``authorize`` takes a
``payment_method_nonce`` made by Braintree's client SDK (Drop-in, Hosted Fields) as
``request.token``: the sale then carries ``payment_method_nonce`` instead of ``credit_card``,
with everything else unchanged (amount, ``order_id``, ``submit_for_settlement``, the replay
search by ``order_id`` first, so a replay of a consumed nonce answers from the first
transaction and never charges twice). A nonce Braintree does not know (never made, expired
after three hours; 91565) or that can no longer be used (consumed 91564, locked 91566, and the
same errors as codes 93107-93109 and 91731-91733 when reported for a nested payment method or
card) → ``InvalidTokenError`` with Braintree's code as ``gateway_code``; declines on a nonce
are DECLINED results with the mapped code, as for card data. ``describe_token`` calls
``payment_method_nonce.find``: ``card_type`` → Stripe's brand word (Maestro as mastercard,
Electron as visa, Carte Blanche as diners, others unknown), ``last_four`` (only ``last_two``
given: ``**`` + the two digits), the expiry, ``bin_data`` (``country_of_issuance`` alpha-3 →
alpha-2, ``Unknown`` → None; ``prepaid`` Yes → prepaid, else ``debit`` Yes → debit, both No →
credit, else unknown); no fingerprint; ``reusable`` False. A nonce not found, consumed or
locked → ``InvalidTokenError``; a nonce that is not for a card (PayPal, Venmo) →
``UnsupportedTokenError`` (``unsupported_payment_method``).

Errors: a refused connection or connect timeout, 429 and 503 → ``RetryableError``; a read
timeout, a dropped connection, 500 and 504 → ``UnknownOutcomeError`` (``RetryableError`` for
lookups); 401/403 → ``TerminalError`` (``authentication``); validation errors (422 without a
transaction) → ``TerminalError``, except card-number errors, which are declines, and nonce
errors (above).

Declines map onto Stripe's codes: processor responses (2000 do_not_honor, 2001
insufficient_funds, 2004 expired_card, 2005 incorrect_number, 2010 incorrect_cvc, 2012
lost_card, 2013 stolen_card, 2014 fraudulent, 2015 transaction_not_allowed, 2044 call_issuer,
2046 generic_decline, 3000 processing_error, other 2xxx generic_decline) and gateway
rejections (cvv incorrect_cvc, avs incorrect_zip, fraud fraudulent, three_d_secure
authentication_required, others generic_decline). 3D Secure needs Braintree's client SDK
(a nonce), so this server-side connector does not offer ``THREE_DS``.

Status mapping (conservative): ``authorized`` → AUTHORIZED; ``submitted_for_settlement``,
``settling``, ``settled``, ``settlement_pending`` → CAPTURED; ``voided`` → VOIDED;
``processor_declined``, ``gateway_rejected``, ``failed``, ``settlement_declined`` → DECLINED;
anything else (``authorizing``, ``settlement_confirmed`` …) → PENDING.
"""

from __future__ import annotations

from typing import Any

import braintree
import requests
from braintree.exceptions import (
    AuthenticationError,
    AuthorizationError,
    GatewayTimeoutError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnexpectedError,
)

from strongbox.connectors.base import (
    AuthorizeRequest,
    Capability,
    CaptureRequest,
    Connector,
    ConnectorError,
    Credentials,
    InvalidTokenError,
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
    VoidRequest,
)
from strongbox.connectors.braintree import reports
from strongbox.connectors.braintree.mapping import (
    CAPTURED,
    CARD_NUMBER_ERRORS,
    CARD_TYPE_ERRORS,
    DECLINED,
    EXPIRY_ERRORS,
    NONCE_ERRORS,
    NONCE_MESSAGES,
    decimal,
    decline_code,
    error_codes,
    minor,
    parse_environment,
    refused,
    token_details,
    validation_decline,
)


class BraintreeConnector(Connector):
    name = "braintree"
    capabilities = (
        Capability.MANUAL_CAPTURE
        | Capability.PARTIAL_CAPTURE
        | Capability.VOID
        | Capability.REFUND
        | Capability.PARTIAL_REFUND
        | Capability.MULTIPLE_REFUNDS
        | Capability.STATUS_LOOKUP
        | Capability.GATEWAY_TOKEN
    )
    credential_fields = ("private_key",)
    setting_fields = ("merchant_id", "public_key", "merchant_account_id", "currency")
    required_settings = ("merchant_id", "public_key")

    def __init__(
        self,
        environment: str = "sandbox",
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.environment = parse_environment(environment)
        self._label = environment if "://" in environment else f"braintree:{environment}"
        self._timeout = (connect_timeout, read_timeout)

    def __repr__(self) -> str:
        return f"BraintreeConnector(environment={self._label!r})"

    def _gateway(self, creds: Credentials) -> braintree.BraintreeGateway:
        return braintree.BraintreeGateway(
            braintree.Configuration(
                environment=self.environment,
                merchant_id=creds.setting("merchant_id"),
                public_key=creds.setting("public_key"),
                private_key=creds.secret("private_key"),
                timeout=self._timeout,
            )
        )

    # ------------------------------------------------------------------ operations

    def authorize(self, request: AuthorizeRequest) -> OperationResult:
        creds = request.credentials
        currency = creds.settings.get("currency")
        if currency and currency.lower() != request.currency.lower():
            raise TerminalError(
                f"the Braintree merchant account charges in {currency.lower()}, not "
                f"{request.currency.lower()}",
                gateway_code="currency_mismatch",
            )
        gateway = self._gateway(creds)
        existing = self._find_by_order(gateway, request.idempotency_key, "sale")
        if existing is not None:
            return self._checked_replay(existing, request.amount, request.currency)
        params: dict[str, Any] = {
            "amount": decimal(request.amount, request.currency),
            "order_id": request.idempotency_key,
            "options": {"submit_for_settlement": request.capture},
        }
        if request.token is not None:
            params["payment_method_nonce"] = request.token
        else:
            data = request.require_card()
            card: dict[str, Any] = {
                "number": data.number.reveal(),
                "expiration_month": f"{data.exp_month:02d}",
                "expiration_year": str(data.exp_year),
            }
            if data.cvc is not None:
                card["cvv"] = data.cvc.reveal()
            if data.holder_name:
                card["cardholder_name"] = data.holder_name
            params["credit_card"] = card
        account = creds.settings.get("merchant_account_id")
        if account:
            params["merchant_account_id"] = account
        result = self._send(lambda: gateway.transaction.sale(params), sent=True)
        return self._result(result, request.currency)

    def capture(self, request: CaptureRequest) -> OperationResult:
        gateway = self._gateway(request.credentials)
        txn = self._find(gateway, request.gateway_reference)
        if txn.status in CAPTURED and minor(txn.amount, txn.currency_iso_code) == request.amount:
            return self._transaction(txn)  # this capture already happened
        result = self._send(
            lambda: gateway.transaction.submit_for_settlement(
                request.gateway_reference,
                decimal(request.amount, request.currency),
                {"api_request_key": request.idempotency_key},
            ),
            sent=True,
        )
        return self._result(result, request.currency, operation=OperationKind.CAPTURE)

    def void(self, request: VoidRequest) -> OperationResult:
        gateway = self._gateway(request.credentials)
        txn = self._find(gateway, request.gateway_reference)
        if txn.status == "voided":
            return self._transaction(txn)
        result = self._send(
            lambda: gateway.transaction.void(
                request.gateway_reference, {"api_request_key": request.idempotency_key}
            ),
            sent=True,
        )
        return self._result(result, None, operation=OperationKind.VOID)

    def refund(self, request: RefundRequest) -> OperationResult:
        gateway = self._gateway(request.credentials)
        existing = self._find_by_order(gateway, request.idempotency_key, "credit")
        if existing is not None:
            return self._refund_result(existing, request.gateway_reference)
        result = self._send(
            lambda: gateway.transaction.refund(
                request.gateway_reference,
                {
                    "amount": decimal(request.amount, request.currency),
                    "order_id": request.idempotency_key,
                },
            ),
            sent=True,
        )
        if getattr(result, "is_success", False):
            return self._refund_result(result.transaction, request.gateway_reference)
        raise self._refusal(result)

    def get_status(self, request: StatusRequest) -> OperationResult:
        gateway = self._gateway(request.credentials)
        ref = request.gateway_reference
        not_found = OperationResult(
            status=OperationStatus.NOT_FOUND, gateway_reference=ref, raw_status="not_found"
        )
        if request.kind is OperationKind.AUTHORIZE:
            txn = self._find_by_order(gateway, request.idempotency_key, "sale")
            return not_found if txn is None else self._transaction(txn)
        if request.kind is OperationKind.REFUND:
            credit = self._find_by_order(gateway, request.idempotency_key, "credit")
            return not_found if credit is None else self._refund_result(credit, ref or "")
        if not ref:
            return not_found
        try:
            txn = self._send(lambda: gateway.transaction.find(ref), sent=False)
        except TerminalError as exc:
            if exc.gateway_code == "not_found":
                return not_found
            raise
        mapped = self._transaction(txn)
        if request.kind is OperationKind.CAPTURE and mapped.status is OperationStatus.CAPTURED:
            return mapped
        if request.kind is OperationKind.VOID and mapped.status is OperationStatus.VOIDED:
            return mapped
        return not_found

    def describe_token(self, request: TokenRequest) -> TokenDetails:
        gateway = self._gateway(request.credentials)
        try:
            nonce = self._send(lambda: gateway.payment_method_nonce.find(request.token), sent=False)
        except TerminalError as exc:
            if exc.gateway_code == "not_found":
                raise InvalidTokenError(
                    "Braintree does not know this payment method nonce", gateway_code="unknown"
                ) from None
            raise
        if getattr(nonce, "consumed", False):
            raise InvalidTokenError(
                "this payment method nonce has already been used", gateway_code="consumed"
            )
        if getattr(nonce, "is_locked", False):
            raise InvalidTokenError("this payment method nonce is locked", gateway_code="locked")
        return token_details(nonce)

    # ------------------------------------------------------------------ helpers

    def transaction_search_xml(self, credentials: Credentials, *, since: int, until: int) -> str:
        """Braintree's settlement data for ``[since, until)`` (``reports.py``)."""
        return reports.transaction_search_xml(
            self._gateway(credentials), self._send, since=since, until=until
        )

    def _find(self, gateway: braintree.BraintreeGateway, ref: str) -> Any:
        try:
            return self._send(lambda: gateway.transaction.find(ref), sent=False)
        except TerminalError as exc:
            if exc.gateway_code == "not_found":
                raise TerminalError(
                    "no such Braintree transaction", gateway_code="resource_missing"
                ) from None
            raise

    def _find_by_order(self, gateway: braintree.BraintreeGateway, key: str, type_: str) -> Any:
        def search() -> list[Any]:
            found = gateway.transaction.search(braintree.TransactionSearch.order_id == key)
            return [t for t in found.items if t.order_id == key and t.type == type_]

        matches = self._send(search, sent=False)
        return matches[0] if matches else None

    def _checked_replay(self, txn: Any, amount: int, currency: str) -> OperationResult:
        if minor(txn.amount, txn.currency_iso_code) != amount:
            raise TerminalError(
                "Keys for idempotent requests can only be used with the same parameters",
                gateway_code="idempotency_error",
            )
        return self._transaction(txn)

    @staticmethod
    def _transaction(txn: Any) -> OperationResult:
        raw = str(getattr(txn, "status", "") or "")
        amount = minor(getattr(txn, "amount", None), getattr(txn, "currency_iso_code", None))
        if raw == "authorized":
            status = OperationStatus.AUTHORIZED
        elif raw in CAPTURED:
            status = OperationStatus.CAPTURED
        elif raw == "voided":
            status = OperationStatus.VOIDED
        elif raw in DECLINED:
            return OperationResult(
                status=OperationStatus.DECLINED,
                gateway_reference=txn.id,
                amount=amount,
                decline_code=decline_code(txn),
                message=str(getattr(txn, "processor_response_text", "") or "")
                or "Your card was declined.",
                raw_status=raw,
                details={"processor_response_code": getattr(txn, "processor_response_code", None)},
            )
        else:
            status = OperationStatus.PENDING
        return OperationResult(
            status=status,
            gateway_reference=txn.id,
            amount=amount,
            raw_status=raw or None,
            network_transaction_id=getattr(txn, "network_transaction_id", None),
        )

    @staticmethod
    def _refund_result(credit: Any, payment_ref: str) -> OperationResult:
        raw = str(getattr(credit, "status", "") or "")
        amount = minor(credit.amount, credit.currency_iso_code)
        if raw in CAPTURED:
            status = OperationStatus.REFUNDED
        elif raw in DECLINED or raw == "voided":
            status = OperationStatus.DECLINED
        else:
            status = OperationStatus.PENDING
        return OperationResult(
            status=status,
            gateway_reference=payment_ref,
            amount=amount,
            decline_code="refund_failed" if status is OperationStatus.DECLINED else None,
            raw_status=raw or None,
            details={"refund": credit.id},
        )

    def _result(
        self, result: Any, currency: str | None, *, operation: OperationKind | None = None
    ) -> OperationResult:
        if getattr(result, "is_success", False):
            return self._transaction(result.transaction)
        txn = getattr(result, "transaction", None)
        if txn is not None and operation is None:
            return self._transaction(txn)  # a declined sale: Braintree created the transaction
        errors = error_codes(result)
        for code in errors:
            if code in NONCE_ERRORS:
                raise InvalidTokenError(NONCE_MESSAGES[NONCE_ERRORS[code]], gateway_code=code)
            if code in CARD_NUMBER_ERRORS:
                return validation_decline(CARD_NUMBER_ERRORS[code])
            if code in EXPIRY_ERRORS:
                return validation_decline("expired_card")
            if code in CARD_TYPE_ERRORS:
                return validation_decline("card_not_supported")
        raise self._refusal(result)

    @staticmethod
    def _refusal(result: Any) -> TerminalError:
        codes = error_codes(result)
        message = str(getattr(result, "message", "") or "Braintree refused the request")
        return TerminalError(
            f"Braintree refused the request: {message}",
            gateway_code=codes[0] if codes else "validation_error",
        )

    def _send(self, call: Any, *, sent: bool) -> Any:
        unknown = UnknownOutcomeError if sent else RetryableError
        try:
            return call()
        except ConnectorError:
            raise
        except requests.exceptions.ConnectTimeout as exc:
            raise RetryableError("Braintree connect timeout; nothing was sent") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise unknown("no response from Braintree in time", gateway_code="timeout") from exc
        except requests.exceptions.ConnectionError as exc:
            if refused(exc):
                raise RetryableError(
                    "could not connect to Braintree; nothing was sent",
                    gateway_code="connect_error",
                ) from exc
            raise unknown(
                "the connection to Braintree failed after sending", gateway_code="network_error"
            ) from exc
        except (TooManyRequestsError, ServiceUnavailableError) as exc:
            raise RetryableError(
                f"Braintree is unavailable ({type(exc).__name__})", gateway_code="unavailable"
            ) from exc
        except (AuthenticationError, AuthorizationError) as exc:
            raise TerminalError(
                "Braintree refused the credentials", gateway_code="authentication"
            ) from exc
        except NotFoundError as exc:
            raise TerminalError("Braintree found no such object", gateway_code="not_found") from exc
        except (ServerError, GatewayTimeoutError, UnexpectedError) as exc:
            raise unknown(
                f"Braintree answered with an error ({type(exc).__name__})",
                gateway_code="server_error",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise unknown(
                f"Braintree request failed ({type(exc).__name__})", gateway_code="network_error"
            ) from exc
