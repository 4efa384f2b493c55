from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, object_session

from strongbox.db.base import Base, JSONType, seq_column

Amount = BigInteger


# ``session.info`` key of the callable that decrypts customer PII (set by the runtime to the
# vault's ``open_pii``): ``(session, merchant_id, customer_id, blob) -> dict | None``.
PII_OPENER = "strongbox.pii_opener"
PII_FIELDS = ("name", "email", "phone", "address")


class Customer(Base):
    """A customer. Name, email, phone and address are stored only in ``pii``, encrypted under
    the customer's own key in the vault (crypto-shredding destroys that key); ``email_index``
    is a keyed HMAC of the normalized email for the ``email=`` list filter.

    The ``legacy_*`` columns hold plaintext written before the vault existed; they are read
    if ``pii`` is empty and cleared on the next write.
    """

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_merchant_seq", "merchant_id", "seq"),
        Index("ix_customers_email_index", "merchant_id", "email_index"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    legacy_name: Mapped[str | None] = mapped_column("name", String(256))
    legacy_email: Mapped[str | None] = mapped_column("email", String(512))
    legacy_phone: Mapped[str | None] = mapped_column("phone", String(64))
    description: Mapped[str | None] = mapped_column(String(1000))
    legacy_address: Mapped[dict[str, Any] | None] = mapped_column("address", JSONType)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    default_payment_method: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    pii: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    email_index: Mapped[str | None] = mapped_column(String(64), default=None)

    def pii_data(self) -> dict[str, Any]:
        """The decrypted PII (cached per ciphertext); empty once the key was destroyed."""
        cached: tuple[bytes | None, dict[str, Any]] | None = self.__dict__.get("_pii_cache")
        if cached is not None and cached[0] is self.pii:
            return cached[1]
        blob = self.pii
        if blob is None:
            data: dict[str, Any] = {
                "name": self.legacy_name,
                "email": self.legacy_email,
                "phone": self.legacy_phone,
                "address": self.legacy_address,
            }
        else:
            session = object_session(self)
            opener = session.info.get(PII_OPENER) if session is not None else None
            if opener is None:
                raise RuntimeError("customer PII read outside a vault-enabled session")
            data = opener(session, self.merchant_id, self.id, blob) or {}
        self.__dict__["_pii_cache"] = (blob, data)
        return data

    def set_pii_cache(self, data: dict[str, Any]) -> None:
        self.__dict__["_pii_cache"] = (self.pii, data)

    @property
    def name(self) -> str | None:
        value: str | None = self.pii_data().get("name")
        return value

    @property
    def email(self) -> str | None:
        value: str | None = self.pii_data().get("email")
        return value

    @property
    def phone(self) -> str | None:
        value: str | None = self.pii_data().get("phone")
        return value

    @property
    def address(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self.pii_data().get("address")
        return value


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    __table_args__ = (
        Index("ix_payment_methods_merchant_seq", "merchant_id", "seq"),
        Index("ix_payment_methods_customer", "merchant_id", "customer_id"),
        Index("ix_payment_methods_fingerprint", "merchant_id", "fingerprint"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    card_brand: Mapped[str] = mapped_column(String(32))
    card_last4: Mapped[str] = mapped_column(String(4))
    card_exp_month: Mapped[int] = mapped_column(Integer)
    card_exp_year: Mapped[int] = mapped_column(Integer)
    card_funding: Mapped[str] = mapped_column(String(16))
    card_country: Mapped[str | None] = mapped_column(String(2))
    # The vault's keyed HMAC of the PAN; for a gateway token, the gateway's own fingerprint
    # (another value for the same card) or None when the gateway gives none.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # "unchecked" while a CVC is held for the first authorization, then "pass"/"fail";
    # None when no CVC was given. Test payment methods render "pass".
    card_cvc_check: Mapped[str | None] = mapped_column(String(16), default=None)
    # Where the card data lives: "test:<token>" for Stripe's test methods, "vault:<token>"
    # for a vaulted card, or "gateway:<connector>" for a token the gateway holds itself.
    card_source: Mapped[str] = mapped_column(String(128))
    # A gateway token (Stripe ``pm_…``/``tok_…``, Braintree nonce) and the one connector account
    # that made it and alone can use it; None for cards Strongbox holds.
    connector_account_id: Mapped[str | None] = mapped_column(String(64), default=None)
    gateway_token: Mapped[str | None] = mapped_column(String(255), default=None)
    billing_details: Mapped[dict[str, Any]]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    created: Mapped[datetime]
    # ``type = "us_bank_account"``: the linked Financial Connections account it debits, its
    # bank, routing number and last4 (the numbers stay sealed on that account; issue 20).
    bank_account: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)


class PaymentIntent(Base):
    __tablename__ = "payment_intents"
    __table_args__ = (
        Index("ix_payment_intents_merchant_seq", "merchant_id", "seq"),
        Index("ix_payment_intents_customer", "merchant_id", "customer_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("amount_received >= 0 AND amount_received <= amount", name="received"),
        CheckConstraint(
            "amount_refunded >= 0 AND amount_refund_pending >= 0 AND "
            "amount_refunded + amount_refund_pending <= amount_received",
            name="refunded",
        ),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    livemode: Mapped[bool]
    amount: Mapped[int] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    capture_method: Mapped[str] = mapped_column(String(16))
    confirmation_method: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    payment_method_id: Mapped[str | None] = mapped_column(String(64))
    payment_method_types: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(1000))
    receipt_email: Mapped[str | None] = mapped_column(String(512))
    statement_descriptor: Mapped[str | None] = mapped_column(String(22))
    return_url: Mapped[str | None] = mapped_column(String(2048))
    setup_future_usage: Mapped[str | None] = mapped_column(String(16))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    amount_capturable: Mapped[int] = mapped_column(Amount, default=0)
    amount_received: Mapped[int] = mapped_column(Amount, default=0)
    amount_refunded: Mapped[int] = mapped_column(Amount, default=0)
    amount_refund_pending: Mapped[int] = mapped_column(Amount, default=0)
    cancellation_reason: Mapped[str | None] = mapped_column(String(32))
    canceled_at: Mapped[datetime | None]
    client_secret: Mapped[str] = mapped_column(String(128))
    last_payment_error: Mapped[dict[str, Any] | None]
    next_action: Mapped[dict[str, Any] | None]
    latest_charge: Mapped[str | None] = mapped_column(String(64))
    connector: Mapped[str | None] = mapped_column(String(64))
    # The connector account (``mca_…``) that holds the payment, when routing picked one.
    connector_account_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The merchant's settlement currency when the intent was created (None: settles in its own
    # currency). A different currency converts at capture (ledger/handlers, docs/fx.md).
    settlement_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    gateway_reference: Mapped[str | None] = mapped_column(String(128))
    # The gateway operation in flight (authorize|capture|void), if any: at most one at a time.
    pending_operation: Mapped[str | None] = mapped_column(String(16))
    created: Mapped[datetime]
    updated: Mapped[datetime]


class PaymentAttempt(Base):
    """One gateway operation with its recovery points: started → finished (or unknown)."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        Index("ix_payment_attempts_intent", "merchant_id", "payment_intent_id"),
        Index("ix_payment_attempts_open", "status", "updated"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # authorize|capture|void|refund
    # started | requires_action | unknown | succeeded | failed
    status: Mapped[str] = mapped_column(String(16))
    connector: Mapped[str] = mapped_column(String(64))
    gateway_idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    gateway_reference: Mapped[str | None] = mapped_column(String(128))
    gateway_status: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    capture: Mapped[bool]
    refund_id: Mapped[str | None] = mapped_column(String(64))
    charge_id: Mapped[str | None] = mapped_column(String(64))
    request_idempotency_key_id: Mapped[str | None] = mapped_column(String(64))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    routing_reason: Mapped[str | None] = mapped_column(String(200))
    # Routing, recorded per attempt: connector account, rule, ranking and position in it.
    connector_account_id: Mapped[str | None] = mapped_column(String(64), default=None)
    routing: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The gateway's reference for a customer action (3DS challenge), while one is open.
    action_reference: Mapped[str | None] = mapped_column(String(128), index=True)
    lookups: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime]
    updated: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # While a gateway call for this attempt is in flight, its caller holds the attempt until
    # this time and renews it (payments/lease.py); recovery never touches a held attempt.
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    # A success the gateway reported after this attempt was resolved as failed, and what was
    # done with it (payments/late.py).
    late_outcome: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # For a void or refund that reverses a late, orphaned charge: the attempt it reverses.
    reverses: Mapped[str | None] = mapped_column(String(64), default=None)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        Index("ix_refunds_merchant_seq", "merchant_id", "seq"),
        Index("ix_refunds_intent", "merchant_id", "payment_intent_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    charge_id: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # pending|succeeded|failed
    reason: Mapped[str | None] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    created: Mapped[datetime]
    updated: Mapped[datetime]


class StatusChange(Base):
    """Full status history per payment intent: each change with time and cause."""

    __tablename__ = "payment_intent_status_history"
    __table_args__ = (Index("ix_pi_history_intent", "payment_intent_id", "seq"),)

    seq: Mapped[int] = seq_column()
    merchant_id: Mapped[str] = mapped_column(String(64))
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(64))
    attempt_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime]


class Dispute(Base):
    """A dispute (chargeback) a gateway reported for a payment (issue 7: inbound webhooks)."""

    __tablename__ = "disputes"
    __table_args__ = (
        Index("ix_disputes_merchant_seq", "merchant_id", "seq"),
        Index("ix_disputes_gateway", "merchant_id", "connector", "gateway_dispute_id", unique=True),
    )

    seq: Mapped[int] = seq_column()
    id: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    charge_id: Mapped[str | None] = mapped_column(String(64))
    connector: Mapped[str] = mapped_column(String(64))
    gateway_dispute_id: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(Amount)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    created: Mapped[datetime]
    updated: Mapped[datetime]
