"""Scrubbing personal values out of JSON copies (event payloads, gateway payloads, cached
responses): by key (``email``, ``name``, ``address``, ``metadata`` ...) and by value (any
string that contains a personal value of the subject)."""

from __future__ import annotations

from typing import Any, Final

ERASED: Final = "[erased]"

# Keys whose value is personal wherever they appear in a subject's object.
PII_KEYS: Final[frozenset[str]] = frozenset(
    {
        "name",
        "email",
        "phone",
        "address",
        "billing_details",
        "shipping",
        "description",
        "metadata",
        "receipt_email",
        "line1",
        "line2",
        "city",
        "postal_code",
        "state",
        "owners",
        "ownership",
        "cardholder_name",
        "account_holder_name",
        "shopperEmail",
        "shopperName",
        "billingAddress",
        "deliveryAddress",
        "telephoneNumber",
        "customer_email",
        "customer_name",
        "customer_phone",
    }
)


def contains_needle(value: str, needles: set[str]) -> bool:
    low = value.lower()
    return any(n in low for n in needles)


def scrub_json(value: Any, needles: set[str], *, by_key: bool = True) -> Any:
    """A copy of ``value`` without the subject's personal values."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if by_key and k in PII_KEYS and v not in (None, {}, [], ""):
                out[k] = {} if isinstance(v, dict) and k == "metadata" else None
            else:
                out[k] = scrub_json(v, needles, by_key=by_key)
        return out
    if isinstance(value, list):
        return [scrub_json(v, needles, by_key=by_key) for v in value]
    if isinstance(value, str) and needles and contains_needle(value, needles):
        return ERASED
    return value


def mentions(value: Any, needles: set[str]) -> bool:
    """Whether any string in ``value`` contains a personal value of the subject."""
    if isinstance(value, dict):
        return any(mentions(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, needles) for v in value)
    if isinstance(value, str):
        return bool(needles) and contains_needle(value, needles)
    return False
