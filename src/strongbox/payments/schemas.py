"""API shapes for payments: request parameters and Stripe-shaped renderings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from sqlalchemy.orm import Session

from strongbox.core.clock import to_unix
from strongbox.core.errors import InvalidRequestError
from strongbox.core.params import (
    BoolParam,
    Expand,
    IntParam,
    ListParams,
    Metadata,
    MetadataUpdate,
    Params,
)
from strongbox.payments import repository
from strongbox.payments.models import Customer, PaymentIntent, PaymentMethod, Refund
from strongbox.vault.cards import display_brand

CaptureMethod = Literal["automatic", "automatic_async", "manual"]
CancellationReason = Literal["duplicate", "fraudulent", "requested_by_customer", "abandoned"]
RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]
SetupFutureUsage = Literal["on_session", "off_session", ""]
Text = str


class AutomaticPaymentMethods(Params):
    enabled: BoolParam
    allow_redirects: Literal["always", "never"] | None = None


class CreatePaymentIntentParams(Params):
    amount: IntParam
    currency: str
    capture_method: CaptureMethod = "automatic"
    confirmation_method: Literal["automatic", "manual"] = "automatic"
    confirm: BoolParam = False
    customer: str | None = None
    payment_method: str | None = None
    payment_method_data: PaymentMethodDataParams | None = None
    payment_method_types: list[str] | None = None
    automatic_payment_methods: AutomaticPaymentMethods | None = None
    description: str | None = Field(default=None, max_length=1000)
    metadata: Metadata | None = None
    receipt_email: str | None = Field(default=None, max_length=512)
    statement_descriptor: str | None = Field(default=None, max_length=22)
    return_url: str | None = Field(default=None, max_length=2048)
    setup_future_usage: SetupFutureUsage | None = None
    off_session: BoolParam | None = None
    expand: Expand | None = None


class UpdatePaymentIntentParams(Params):
    amount: IntParam | None = None
    currency: str | None = None
    capture_method: CaptureMethod | None = None
    customer: str | None = None
    payment_method: str | None = None
    payment_method_types: list[str] | None = None
    description: str | None = Field(default=None, max_length=1000)
    metadata: MetadataUpdate | None = None
    receipt_email: str | None = Field(default=None, max_length=512)
    statement_descriptor: str | None = Field(default=None, max_length=22)
    setup_future_usage: SetupFutureUsage | None = None
    expand: Expand | None = None


class ConfirmPaymentIntentParams(Params):
    payment_method: str | None = None
    payment_method_data: PaymentMethodDataParams | None = None
    return_url: str | None = Field(default=None, max_length=2048)
    receipt_email: str | None = Field(default=None, max_length=512)
    capture_method: CaptureMethod | None = None
    setup_future_usage: SetupFutureUsage | None = None
    off_session: BoolParam | None = None
    expand: Expand | None = None


class CapturePaymentIntentParams(Params):
    amount_to_capture: IntParam | None = None
    metadata: Metadata | None = None
    statement_descriptor: str | None = Field(default=None, max_length=22)
    expand: Expand | None = None


class CancelPaymentIntentParams(Params):
    cancellation_reason: CancellationReason | None = None
    expand: Expand | None = None


class RetrieveParams(Params):
    expand: Expand | None = None
    client_secret: str | None = None


class ListPaymentIntentsParams(ListParams):
    customer: str | None = None


class CreateRefundParams(Params):
    payment_intent: str | None = None
    charge: str | None = None
    amount: IntParam | None = None
    reason: RefundReason | None = None
    metadata: Metadata | None = None
    expand: Expand | None = None


class UpdateRefundParams(Params):
    metadata: MetadataUpdate | None = None
    expand: Expand | None = None


class ListRefundsParams(ListParams):
    payment_intent: str | None = None
    charge: str | None = None


class AddressParams(Params):
    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=200)
    state: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2)


class InvoiceSettingsParams(Params):
    default_payment_method: str | None = None


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class CustomerParams(Params):
    name: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=512)
    phone: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=1000)
    # "" unsets the address. Not a union with Literal[""]: pydantic would put the union
    # member's name into error locations (address[AddressParams][line1]).
    address: Annotated[AddressParams | None, BeforeValidator(_blank_to_none)] = None
    metadata: MetadataUpdate | None = None
    payment_method: str | None = None
    invoice_settings: InvoiceSettingsParams | None = None
    expand: Expand | None = None


class ListCustomersParams(ListParams):
    email: str | None = Field(default=None, max_length=512)


class AttachPaymentMethodParams(Params):
    customer: str
    expand: Expand | None = None


class DetachPaymentMethodParams(Params):
    expand: Expand | None = None


class CardParams(Params):
    number: str | None = Field(default=None, max_length=40)
    exp_month: IntParam | None = None
    exp_year: IntParam | None = None
    cvc: str | None = Field(default=None, max_length=8)
    # Instead of the card details: a token the gateway of ``connector_account`` made (a Stripe
    # pm_…/tok_… from Stripe.js, a Braintree nonce), or one of Stripe's test tokens (tok_visa).
    token: str | None = None


class PaymentMethodDataParams(Params):
    """``payment_method_data`` on a PaymentIntent: a payment method made in the same request.
    Strongbox takes a ``card[token]`` here (card details go to /v1/payment_methods)."""

    type: Literal["card"] | None = None
    card: CardParams | None = None
    # Strongbox extension: the connector account whose gateway made ``card[token]``.
    connector_account: str | None = Field(default=None, max_length=64)
    metadata: Metadata | None = None


class UsBankAccountParams(Params):
    """A linked Financial Connections account (``fca_…``) as the bank account to debit."""

    financial_connections_account: str = Field(min_length=1, max_length=64)


class CreatePaymentMethodParams(Params):
    type: Literal["card", "us_bank_account"] | None = None
    card: CardParams | None = None
    us_bank_account: UsBankAccountParams | None = None
    # Strongbox extension: the connector account whose gateway made ``card[token]``.
    connector_account: str | None = Field(default=None, max_length=64)
    metadata: Metadata | None = None
    expand: Expand | None = None


class ListPaymentMethodsParams(ListParams):
    customer: str | None = None
    type: str | None = None


# ---------------------------------------------------------------- rendering

INTENT_EXPANDABLE = frozenset({"customer", "payment_method"})
REFUND_EXPANDABLE = frozenset({"payment_intent"})
PM_EXPANDABLE = frozenset({"customer"})


def check_expand(expand: list[str] | None, allowed: frozenset[str]) -> set[str]:
    wanted = set(expand or [])
    for path in sorted(wanted):
        head = path.split(".", 1)[0]
        if head not in allowed:
            raise InvalidRequestError(f"This property cannot be expanded ({path}).", param="expand")
    return wanted


def render_customer(c: Customer, livemode: bool = False) -> dict[str, Any]:
    if c.deleted_at is not None:
        return {"id": c.id, "object": "customer", "deleted": True}
    return {
        "id": c.id,
        "object": "customer",
        "address": c.address,
        "balance": 0,
        "created": to_unix(c.created),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": c.description,
        "email": c.email,
        "invoice_prefix": c.id[4:12].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": c.default_payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": livemode,
        "metadata": dict(c.metadata_ or {}),
        "name": c.name,
        "next_invoice_sequence": 1,
        "phone": c.phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def render_payment_method(
    session: Session, pm: PaymentMethod, expand: set[str] | None = None, livemode: bool = False
) -> dict[str, Any]:
    customer: Any = pm.customer_id
    if expand and "customer" in expand and pm.customer_id:
        cust = repository.get_customer(
            session, pm.merchant_id, pm.customer_id, include_deleted=True
        )
        customer = render_customer(cust, livemode) if cust else pm.customer_id
    bd = pm.billing_details or {}
    body = {
        "id": pm.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": bd.get(
                "address",
                {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
            ),
            "email": bd.get("email"),
            "name": bd.get("name"),
            "phone": bd.get("phone"),
        },
        "card": {
            "brand": pm.card_brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": ("pass" if pm.card_source.startswith("test:") else pm.card_cvc_check),
            },
            "country": pm.card_country,
            "display_brand": display_brand(pm.card_brand),
            "exp_month": pm.card_exp_month,
            "exp_year": pm.card_exp_year,
            "fingerprint": pm.fingerprint or None,
            "funding": pm.card_funding,
            "generated_from": None,
            "last4": pm.card_last4,
            "networks": {"available": [pm.card_brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": to_unix(pm.created),
        "customer": customer,
        "livemode": livemode,
        "metadata": dict(pm.metadata_ or {}),
        "type": pm.type,
    }
    if pm.type == "us_bank_account":
        del body["card"]
        body["us_bank_account"] = render_bank_account(pm)
    return body


def render_bank_account(pm: PaymentMethod) -> dict[str, Any]:
    """Stripe's ``us_bank_account`` hash: never the account number, only its last4."""
    b = pm.bank_account or {}
    return {
        "account_holder_type": b.get("account_holder_type", "individual"),
        "account_type": b.get("account_type"),
        "bank_name": b.get("bank_name"),
        "financial_connections_account": b.get("financial_connections_account"),
        "fingerprint": pm.fingerprint,
        "last4": b.get("last4"),
        "networks": {"preferred": "ach", "supported": ["ach"]},
        "routing_number": b.get("routing_number"),
        "status_details": None,
    }


def render_intent(
    session: Session | None, pi: PaymentIntent, expand: set[str] | None = None
) -> dict[str, Any]:
    customer: Any = pi.customer_id
    payment_method: Any = pi.payment_method_id
    if session is not None and expand:
        if "customer" in expand and pi.customer_id:
            cust = repository.get_customer(
                session, pi.merchant_id, pi.customer_id, include_deleted=True
            )
            customer = render_customer(cust, pi.livemode) if cust else pi.customer_id
        if "payment_method" in expand and pi.payment_method_id:
            pm = repository.get_payment_method(session, pi.merchant_id, pi.payment_method_id)
            payment_method = render_payment_method(session, pm, None, pi.livemode) if pm else None
    return {
        "id": pi.id,
        "object": "payment_intent",
        "amount": pi.amount,
        "amount_capturable": pi.amount_capturable,
        "amount_details": {"tip": {}},
        "amount_received": pi.amount_received,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": to_unix(pi.canceled_at) if pi.canceled_at else None,
        "cancellation_reason": pi.cancellation_reason,
        "capture_method": pi.capture_method,
        "client_secret": pi.client_secret,
        "confirmation_method": pi.confirmation_method,
        "created": to_unix(pi.created),
        "currency": pi.currency,
        "customer": customer,
        "description": pi.description,
        "last_payment_error": pi.last_payment_error,
        "latest_charge": pi.latest_charge,
        "livemode": pi.livemode,
        "metadata": dict(pi.metadata_ or {}),
        "next_action": pi.next_action,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": list(pi.payment_method_types or ["card"]),
        "processing": None,
        "receipt_email": pi.receipt_email,
        "review": None,
        "setup_future_usage": pi.setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": pi.statement_descriptor,
        "statement_descriptor_suffix": None,
        "status": pi.status,
        "transfer_data": None,
        "transfer_group": None,
    }


def render_refund(
    session: Session | None, r: Refund, expand: set[str] | None = None, livemode: bool = False
) -> dict[str, Any]:
    payment_intent: Any = r.payment_intent_id
    if session is not None and expand and "payment_intent" in expand:
        pi = repository.get_intent(session, r.merchant_id, r.payment_intent_id)
        payment_intent = render_intent(session, pi) if pi else r.payment_intent_id
    out: dict[str, Any] = {
        "id": r.id,
        "object": "refund",
        "amount": r.amount,
        "balance_transaction": None,
        "charge": r.charge_id,
        "created": to_unix(r.created),
        "currency": r.currency,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": dict(r.metadata_ or {}),
        "payment_intent": payment_intent,
        "reason": r.reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": r.status,
        "transfer_reversal": None,
    }
    if r.failure_reason:
        out["failure_reason"] = r.failure_reason
    return out


def render_list(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": data}


def render_dispute(d: Any, livemode: bool = False) -> dict[str, Any]:
    """A dispute in Stripe's shape (``object: "dispute"``)."""
    return {
        "id": d.id,
        "object": "dispute",
        "amount": d.amount,
        "charge": d.charge_id,
        "currency": d.currency,
        "created": int(d.created.timestamp()),
        "livemode": livemode,
        "metadata": {},
        "payment_intent": d.payment_intent_id,
        "reason": d.reason,
        "status": d.status,
    }
