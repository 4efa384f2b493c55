"""Access (Art. 15) and portability (Art. 20): every personal datum held about the subject,
as one JSON bundle and a human-readable HTML summary (jinja2, autoescaped).

Cards appear masked (brand, last4, expiry, country); keys, tokens, client secrets and
ciphertexts never appear. Built from what ``locate`` found in the registry's tables.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

import jinja2

from strongbox.core.clock import to_unix
from strongbox.privacy.locate import Found
from strongbox.privacy.registry import LOCATIONS

FORMAT: Final = "strongbox.privacy_export.v1"


def _ts(value: datetime | None) -> int | None:
    return to_unix(value) if value is not None else None


def _customer(c: Any) -> dict[str, Any]:
    pii = c.pii_data()
    return {
        "id": c.id,
        "name": pii.get("name"),
        "email": pii.get("email"),
        "phone": pii.get("phone"),
        "address": pii.get("address"),
        "description": c.description,
        "metadata": c.metadata_ or {},
        "created": _ts(c.created),
        "deleted": c.deleted_at is not None,
    }


def _payment_method(pm: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": pm.id,
        "type": pm.type,
        "customer": pm.customer_id,
        "billing_details": pm.billing_details or {},
        "metadata": pm.metadata_ or {},
        "created": _ts(pm.created),
    }
    if pm.type == "card":
        out["card"] = {
            "brand": pm.card_brand,
            "last4": pm.card_last4,
            "exp_month": pm.card_exp_month,
            "exp_year": pm.card_exp_year,
            "country": pm.card_country,
        }
    if pm.bank_account:
        out["us_bank_account"] = {
            k: v for k, v in pm.bank_account.items() if k in ("bank_name", "last4")
        }
    return out


def _intent(pi: Any) -> dict[str, Any]:
    return {
        "id": pi.id,
        "amount": pi.amount,
        "currency": pi.currency,
        "status": pi.status,
        "customer": pi.customer_id,
        "payment_method": pi.payment_method_id,
        "description": pi.description,
        "receipt_email": pi.receipt_email,
        "metadata": pi.metadata_ or {},
        "created": _ts(pi.created),
    }


def build_bundle(
    found: Found, *, request_id: str, merchant_id: str, generated: datetime
) -> dict[str, Any]:
    """The machine-readable export (JSON; Art. 20's structured, commonly used format)."""
    return {
        "object": "privacy_export",
        "format": FORMAT,
        "request": request_id,
        "merchant": merchant_id,
        "generated": _ts(generated),
        "customers": [_customer(c) for c in found.customers],
        "payment_methods": [_payment_method(pm) for pm in found.payment_methods],
        "payment_intents": [_intent(pi) for pi in found.payment_intents],
        "refunds": [
            {
                "id": r.id,
                "payment_intent": r.payment_intent_id,
                "amount": r.amount,
                "currency": r.currency,
                "status": r.status,
                "metadata": r.metadata_ or {},
                "created": _ts(r.created),
            }
            for r in found.refunds
        ],
        "disputes": [
            {
                "id": d.id,
                "payment_intent": d.payment_intent_id,
                "amount": d.amount,
                "currency": d.currency,
                "reason": d.reason,
                "status": d.status,
                "created": _ts(d.created),
            }
            for d in found.disputes
        ],
        "events": [
            {"id": e.id, "type": e.type, "created": _ts(e.created), "data": e.data}
            for e in found.events
        ],
        "webhook_deliveries": [
            {
                "id": d.id,
                "event": d.event_id,
                "endpoint": d.endpoint_id,
                "status": d.status,
                "created": _ts(d.created),
            }
            for d in found.webhook_deliveries
        ],
        "inbound_gateway_events": [
            {
                "id": e.id,
                "connector": e.connector,
                "type": e.type,
                "received": _ts(e.received_at),
                "payload": e.payload,
            }
            for e in found.inbound_events
        ],
        "bank_accounts": [
            {
                "id": a.id,
                "display_name": a.display_name,
                "institution_name": a.institution_name,
                "last4": a.last4,
                "ownership": a.ownership,
                "created": _ts(a.created),
            }
            for a in found.bank_accounts
        ],
        "bank_transactions": [
            {
                "id": t.id,
                "account": t.account_id,
                "amount": t.amount,
                "currency": t.currency,
                "description": t.description,
                "transacted_on": t.transacted_on.isoformat(),
            }
            for t in found.bank_transactions
        ],
        "audit_entries": [
            {
                "id": a.id,
                "created": _ts(a.created),
                "action": a.action,
                "resource_type": a.resource_type,
                "resource_id": a.resource_id,
                "outcome": a.outcome,
            }
            for a in found.audit_entries
        ],
        "sources": [
            {"table": loc.table, "column": loc.column, "kind": loc.kind} for loc in LOCATIONS
        ],
    }


_TEMPLATE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Your personal data held by {{ bundle.merchant }}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
pre{white-space:pre-wrap}</style></head><body>
<h1>Your personal data</h1>
<p>Request {{ bundle.request }}, generated {{ generated }} (UTC). The machine-readable copy
of the same data is the JSON export of this request.</p>
{% for section, rows in sections %}
<h2>{{ section }} ({{ rows|length }})</h2>
{% if rows %}<table><tbody>
{% for row in rows %}<tr><td><pre>{{ row }}</pre></td></tr>{% endfor %}
</tbody></table>{% else %}<p>None held.</p>{% endif %}
{% endfor %}
</body></html>
"""

_SECTIONS: Final = (
    ("Customer records", "customers"),
    ("Payment methods (cards masked)", "payment_methods"),
    ("Payments", "payment_intents"),
    ("Refunds", "refunds"),
    ("Disputes", "disputes"),
    ("Events and webhook payload copies", "events"),
    ("Webhook deliveries", "webhook_deliveries"),
    ("Gateway events received", "inbound_gateway_events"),
    ("Linked bank accounts", "bank_accounts"),
    ("Bank transactions", "bank_transactions"),
    ("Audit log entries that name you by id", "audit_entries"),
)

_ENV: Final = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def render_html(bundle: dict[str, Any]) -> str:
    """The human-readable summary: every section of the bundle, values escaped."""
    sections = [
        (title, [json.dumps(row, indent=2, sort_keys=True) for row in bundle[key]])
        for title, key in _SECTIONS
    ]
    generated = datetime.fromtimestamp(bundle["generated"], tz=UTC).isoformat()
    return _ENV.from_string(_TEMPLATE).render(bundle=bundle, sections=sections, generated=generated)
