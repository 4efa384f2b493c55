"""Gateway webhook formats: verify the raw body, then translate the event.

Each provider verifies before anything is parsed, and maps the events that carry payment
outcomes to a ``GatewayReport``; anything else is stored and marked ignored.

* Stripe: ``Stripe-Signature: t=…,v1=…[,v1=…]``, HMAC-SHA256 over ``"{t}.{body}"`` with the
  endpoint secret, 300 s tolerance in both directions; any configured secret (rotation) and
  any ``v1`` value may match.
* Braintree: form fields ``bt_signature``/``bt_payload``, verified and parsed by the official
  ``braintree`` SDK (``public_key|HMAC-SHA1`` keyed by SHA-1 of the private key).
* Simulator: Standard Webhooks headers signed with the account's ``whsec_`` secret.
* Adyen: standard notifications, a JSON batch of ``NotificationRequestItem``s, each signed in
  ``additionalData.hmacSignature``: base64 HMAC-SHA256, keyed by the hex HMAC key, over
  ``pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:
  eventCode:success`` (a missing field is empty). Every item must verify (any configured key,
  for rotation) before any is used; optional Basic auth on the endpoint.
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

from strongbox.connectors.adyen.connector import decline_code_for_reason
from strongbox.connectors.http import obj
from strongbox.payments.reports import GatewayReport, ReportKind
from strongbox.webhooks import signing

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 512 * 1024


class SignatureInvalid(Exception):
    """The request is not signed by the configured gateway account."""


class AuthenticationInvalid(SignatureInvalid):
    """The request lacks the endpoint's Basic auth credentials (answered 401)."""


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


# ---------------------------------------------------------------- Adyen

ADYEN_SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)


def adyen_signature(item: dict[str, Any], hmac_key_hex: str) -> str:
    """Adyen's HMAC of one NotificationRequestItem (base64)."""
    amount = obj(item.get("amount"))
    values = {**item, "value": amount.get("value", ""), "currency": amount.get("currency", "")}
    signed = ":".join(
        "" if values.get(f) is None else str(values.get(f)) for f in ADYEN_SIGNED_FIELDS
    )
    try:
        key = binascii.unhexlify(hmac_key_hex)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("the configured HMAC key is not hex") from None
    return base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest()).decode()


def check_basic_auth(header: str | None, expected: tuple[str, str] | None) -> None:
    if expected is None:
        return
    want = "Basic " + base64.b64encode(":".join(expected).encode()).decode()
    if not header or not hmac.compare_digest(header.strip().encode(), want.encode()):
        raise AuthenticationInvalid("missing or wrong Basic auth credentials")


def verify_adyen(
    body: bytes,
    headers: dict[str, str],
    hmac_keys: list[str],
    basic_auth: tuple[str, str] | None,
) -> list[Verified]:
    """Every item of the batch, verified; any bad item rejects the whole request (Adyen
    retries the batch)."""
    check_basic_auth(headers.get("authorization"), basic_auth)
    batch = _json_object(body)
    items = batch.get("notificationItems")
    if not isinstance(items, list) or not items:
        raise SignatureInvalid("no notificationItems")
    out: list[Verified] = []
    for wrapped in items:
        item = wrapped.get("NotificationRequestItem") if isinstance(wrapped, dict) else None
        if not isinstance(item, dict):
            raise SignatureInvalid("a notification item is not a NotificationRequestItem")
        extra = item.get("additionalData")
        if not isinstance(extra, dict):
            raise SignatureInvalid("a notification item has no additionalData")
        sig = extra.get("hmacSignature")
        if not isinstance(sig, str) or not sig:
            raise SignatureInvalid("a notification item has no hmacSignature")
        ok = False
        for key in hmac_keys:
            ok |= hmac.compare_digest(adyen_signature(item, key).encode(), sig.encode())
        if not ok:
            raise SignatureInvalid("a notification item's hmacSignature does not match")
        psp, event = _str(item.get("pspReference")), _str(item.get("eventCode"))
        success = item.get("success")
        if psp is None or event is None or success not in ("true", "false"):
            raise SignatureInvalid("signed item lacks pspReference, eventCode or success")
        payload = dict(item)
        payload["additionalData"] = {k: v for k, v in extra.items() if k != "hmacSignature"}
        payload["live"] = batch.get("live")
        # Adyen may deliver an item more than once: one event per psp, event code and outcome.
        out.append(Verified(f"{psp}:{event}:{success}"[:128], event[:100], payload))
    return out


_ADYEN_PAYMENT_EVENTS = {
    ("CAPTURE", "true"): ReportKind.PAYMENT_CAPTURED,
    ("CAPTURE", "false"): ReportKind.PAYMENT_FAILED,
    ("CAPTURE_FAILED", "true"): ReportKind.PAYMENT_FAILED,
    ("CANCELLATION", "true"): ReportKind.PAYMENT_VOIDED,
    ("CANCELLATION", "false"): ReportKind.VOID_FAILED,
    ("REFUND", "true"): ReportKind.REFUND_SUCCEEDED,
    ("REFUND", "false"): ReportKind.REFUND_FAILED,
    ("REFUND_FAILED", "true"): ReportKind.REFUND_FAILED,
    ("REFUNDED_REVERSED", "true"): ReportKind.REFUND_FAILED,
}


def translate_adyen(item: dict[str, Any]) -> GatewayReport | None:
    """AUTHORISATION: ``merchantReference`` is our authorization's idempotency key and
    ``pspReference`` the payment's; modifications: ``merchantReference`` is the
    modification's key and ``originalReference`` the payment's ``pspReference``."""
    event, success = item.get("eventCode"), item.get("success")
    amount_obj = obj(item.get("amount"))
    amount, currency = _int(amount_obj.get("value")), _str(amount_obj.get("currency"))
    currency = currency.lower() if currency else None
    extra = obj(item.get("additionalData"))
    key = _str(item.get("merchantReference"))
    if event == "AUTHORISATION":
        ok = success == "true"
        return GatewayReport(
            kind=ReportKind.PAYMENT_AUTHORIZED if ok else ReportKind.PAYMENT_FAILED,
            connector="adyen",
            idempotency_key=key,
            gateway_reference=_str(item.get("pspReference")),
            amount=amount,
            currency=currency,
            decline_code=None
            if ok
            else decline_code_for_reason(item.get("reason"), extra.get("refusalReasonRaw")),
            # Strongbox asks Adyen for immediate capture (captureDelayHours 0) on automatic
            # payments, so for those an authorisation is the capture.
            authorization_captures=True,
        )
    if event in ("CHARGEBACK", "NOTIFICATION_OF_CHARGEBACK"):
        return GatewayReport(
            kind=ReportKind.DISPUTE_OPENED,
            connector="adyen",
            gateway_reference=_str(item.get("originalReference")),
            amount=amount,
            currency=currency,
            dispute_id=_str(item.get("pspReference")),
            dispute_reason=_str(item.get("reason")),
        )
    kind = _ADYEN_PAYMENT_EVENTS.get((str(event), str(success)))
    if kind is None:
        return None
    failed = kind in (ReportKind.PAYMENT_FAILED, ReportKind.VOID_FAILED, ReportKind.REFUND_FAILED)
    return GatewayReport(
        kind=kind,
        connector="adyen",
        idempotency_key=key,
        gateway_reference=_str(item.get("originalReference")),
        amount=amount if event != "CANCELLATION" else None,
        currency=currency,
        decline_code="processing_error" if failed else None,
        message=_str(item.get("reason")) if failed else None,
    )


def translate(connector: str, payload: dict[str, Any]) -> GatewayReport | None:
    if connector == "stripe":
        return translate_stripe(payload)
    if connector == "braintree":
        return translate_braintree(payload)
    if connector == "simulator":
        return translate_simulator(payload)
    if connector == "adyen":
        return translate_adyen(payload)
    return None
