"""Gateway webhook formats: verify the raw body, then translate the event.

Each provider verifies before anything is parsed, and maps the events that carry payment
outcomes to a ``GatewayReport``; anything else is stored and marked ignored.

* Stripe: ``Stripe-Signature: t=…,v1=…[,v1=…]``, HMAC-SHA256 over ``"{t}.{body}"`` with the
  endpoint secret, 300 s tolerance in both directions; any configured secret (rotation) and
  any ``v1`` value may match.
* Braintree: form fields ``bt_signature``/``bt_payload``, verified and parsed by the official
  ``braintree`` SDK (``public_key|HMAC-SHA1`` keyed by SHA-1 of the private key).
* Simulator: Standard Webhooks headers signed with the account's ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from strongbox.payments.reports import GatewayReport, ReportKind
from strongbox.webhooks import signing

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 512 * 1024


class SignatureInvalid(Exception):
    """The request is not signed by the configured gateway account."""


@dataclass(frozen=True, slots=True)
class Verified:
    provider_event_id: str
    type: str
    payload: dict[str, Any]


# ---------------------------------------------------------------- Stripe


def verify_stripe(body: bytes, header: str | None, secrets: list[str], now: int) -> Verified:
    if not header:
        raise SignatureInvalid("missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureInvalid("bad timestamp") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureInvalid("no timestamp or no v1 signature")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureInvalid("timestamp outside the tolerance")
    signed = f"{timestamp}.".encode() + body
    ok = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for sig in signatures:
            ok |= hmac.compare_digest(expected, sig)
    if not ok:
        raise SignatureInvalid("no matching signature")
    event = _json_object(body)
    event_id = event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise SignatureInvalid("signed body is not a Stripe event")
    return Verified(event_id[:128], event_type[:100], event)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SignatureInvalid("signed body is not JSON") from None
    if not isinstance(value, dict):
        raise SignatureInvalid("signed body is not a JSON object")
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def translate_stripe(event: dict[str, Any]) -> GatewayReport | None:
    """Stripe events that carry an outcome for an operation we started."""
    type_ = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        return None
    request = event.get("request") or {}
    key = _str(request.get("idempotency_key")) if isinstance(request, dict) else None
    if type_ in (
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.amount_capturable_updated",
        "payment_intent.canceled",
    ):
        kind = {
            "payment_intent.succeeded": ReportKind.PAYMENT_CAPTURED,
            "payment_intent.payment_failed": ReportKind.PAYMENT_FAILED,
            "payment_intent.amount_capturable_updated": ReportKind.PAYMENT_AUTHORIZED,
            "payment_intent.canceled": ReportKind.PAYMENT_VOIDED,
        }[type_]
        err = obj.get("last_payment_error") or {}
        return GatewayReport(
            kind=kind,
            connector="stripe",
            idempotency_key=key,
            gateway_reference=_str(obj.get("id")),
            amount=_int(obj.get("amount_received"))
            if kind == ReportKind.PAYMENT_CAPTURED
            else _int(obj.get("amount")),
            currency=_str(obj.get("currency")),
            decline_code=_str(err.get("decline_code")) if isinstance(err, dict) else None,
        )
    if type_ in ("refund.updated", "refund.failed", "charge.refund.updated"):
        status = obj.get("status")
        if status not in ("succeeded", "failed", "canceled"):
            return None
        return GatewayReport(
            kind=ReportKind.REFUND_SUCCEEDED if status == "succeeded" else ReportKind.REFUND_FAILED,
            connector="stripe",
            idempotency_key=key,
            gateway_reference=_str(obj.get("payment_intent")),
            amount=_int(obj.get("amount")),
            currency=_str(obj.get("currency")),
            decline_code=_str(obj.get("failure_reason")),
        )
    if type_ == "charge.dispute.created":
        return GatewayReport(
            kind=ReportKind.DISPUTE_OPENED,
            connector="stripe",
            gateway_reference=_str(obj.get("payment_intent")),
            amount=_int(obj.get("amount")),
            currency=_str(obj.get("currency")),
            dispute_id=_str(obj.get("id")),
            dispute_reason=_str(obj.get("reason")),
        )
    return None


# ---------------------------------------------------------------- Braintree


def verify_braintree(body: bytes, public_key: str, private_key: str) -> Verified:
    """Verify and parse with the official SDK (which checks the signature first)."""
    import braintree

    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise SignatureInvalid("body is not a form with bt_signature and bt_payload") from None
    sig = (form.get("bt_signature") or [""])[0]
    payload = (form.get("bt_payload") or [""])[0]
    if not sig or not payload:
        raise SignatureInvalid("missing bt_signature or bt_payload")
    gateway = braintree.BraintreeGateway(
        braintree.Configuration(
            environment=braintree.Environment.Sandbox,
            merchant_id="strongbox",
            public_key=public_key,
            private_key=private_key,
        )
    )
    try:
        note = gateway.webhook_notification.parse(sig, payload)
    except braintree.exceptions.InvalidSignatureError:
        raise SignatureInvalid("braintree signature does not match") from None
    except Exception:  # noqa: BLE001 - a signed but malformed notification
        raise SignatureInvalid("braintree notification could not be parsed") from None
    data = _braintree_data(note)
    # Braintree notifications carry no id: the signed payload itself identifies one.
    event_id = "bt_" + hashlib.sha256(payload.encode()).hexdigest()[:40]
    return Verified(event_id, str(note.kind)[:100], data)


def _braintree_data(note: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": str(note.kind), "timestamp": str(note.timestamp)}
    tx = getattr(note, "transaction", None)
    if tx is not None:
        data["transaction"] = {
            "id": str(tx.id),
            "amount": str(getattr(tx, "amount", "") or ""),
            "currency": getattr(tx, "currency_iso_code", None),
            "status": getattr(tx, "status", None),
            "processor_response_code": getattr(tx, "processor_settlement_response_code", None),
        }
    dispute = getattr(note, "dispute", None)
    if dispute is not None:
        txd = getattr(dispute, "transaction", None)
        data["dispute"] = {
            "id": str(dispute.id),
            "amount": str(getattr(dispute, "amount_disputed", None) or dispute.amount or ""),
            "currency": getattr(dispute, "currency_iso_code", None),
            "reason": getattr(dispute, "reason", None),
            "transaction_id": str(txd.id) if txd is not None else None,
        }
    return data


def _minor_units(amount: str | None) -> int | None:
    """Braintree amounts are decimal strings in major units; two-decimal currencies only."""
    if not amount:
        return None
    whole, _, frac = amount.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
        return None
    return int(whole) * 100 + int((frac + "00")[:2])


def translate_braintree(data: dict[str, Any]) -> GatewayReport | None:
    kind = data.get("kind")
    tx = data.get("transaction") or {}
    if kind in ("transaction_settled", "transaction_settlement_declined"):
        return GatewayReport(
            kind=ReportKind.PAYMENT_CAPTURED
            if kind == "transaction_settled"
            else ReportKind.PAYMENT_FAILED,
            connector="braintree",
            gateway_reference=_str(tx.get("id")),
            amount=_minor_units(tx.get("amount")),
            currency=_str(tx.get("currency")),
            decline_code="processing_error" if kind != "transaction_settled" else None,
        )
    if kind == "dispute_opened":
        d = data.get("dispute") or {}
        return GatewayReport(
            kind=ReportKind.DISPUTE_OPENED,
            connector="braintree",
            gateway_reference=_str(d.get("transaction_id")),
            amount=_minor_units(d.get("amount")),
            currency=_str(d.get("currency")),
            dispute_id=_str(d.get("id")),
            dispute_reason=_str(d.get("reason")),
        )
    return None


# ---------------------------------------------------------------- simulator


def verify_simulator(
    body: bytes, headers: dict[str, str], secrets: list[str], now: int
) -> Verified:
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sig = headers.get("webhook-signature")
    if not msg_id or not ts or not sig:
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts_int = int(ts)
    except ValueError:
        raise SignatureInvalid("bad timestamp") from None
    if abs(now - ts_int) > TOLERANCE_SECONDS:
        raise SignatureInvalid("timestamp outside the tolerance")
    keys: list[bytes] = []
    for s in secrets:
        try:
            keys.append(base64.b64decode(s.removeprefix(signing.SECRET_PREFIX), validate=True))
        except (binascii.Error, ValueError):
            continue
    if not signing.verify_v1(keys, msg_id, ts, sig, body):
        raise SignatureInvalid("no matching signature")
    event = _json_object(body)
    type_ = event.get("type")
    if not isinstance(type_, str):
        raise SignatureInvalid("signed body is not a simulator event")
    return Verified(msg_id[:128], type_[:100], event)


_SIM_KINDS = {
    "charge.authorized": ReportKind.PAYMENT_AUTHORIZED,
    "charge.captured": ReportKind.PAYMENT_CAPTURED,
    "charge.failed": ReportKind.PAYMENT_FAILED,
    "charge.voided": ReportKind.PAYMENT_VOIDED,
    "refund.succeeded": ReportKind.REFUND_SUCCEEDED,
    "refund.failed": ReportKind.REFUND_FAILED,
    "dispute.opened": ReportKind.DISPUTE_OPENED,
}


def translate_simulator(event: dict[str, Any]) -> GatewayReport | None:
    kind = _SIM_KINDS.get(str(event.get("type")))
    data = event.get("data")
    if kind is None or not isinstance(data, dict):
        return None
    return GatewayReport(
        kind=kind,
        connector="simulator",
        idempotency_key=_str(data.get("idempotency_key")),
        gateway_reference=_str(data.get("charge")),
        amount=_int(data.get("amount")),
        currency=_str(data.get("currency")),
        decline_code=_str(data.get("decline_code")),
        dispute_id=_str(data.get("dispute")),
        dispute_reason=_str(data.get("reason")),
    )


def translate(connector: str, payload: dict[str, Any]) -> GatewayReport | None:
    if connector == "stripe":
        return translate_stripe(payload)
    if connector == "braintree":
        return translate_braintree(payload)
    if connector == "simulator":
        return translate_simulator(payload)
    return None
