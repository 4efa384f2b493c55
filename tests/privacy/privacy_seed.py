"""Seed data for the privacy tests: a customer with personal data, a card with billing
details, a paid payment and a guest payment with the same email."""

from __future__ import annotations

from fastapi.testclient import TestClient

from strongbox.payments.models import PaymentMethod
from strongbox.runtime import Runtime

EMAIL = "Ada.Lovelace@example.com"
NAME = "Ada <b>Lovelace</b>"
PHONE = "+44 20 7946 0018"


def seed(api: TestClient, runtime: Runtime) -> dict[str, str]:
    """A customer with PII, a card, a paid payment, and a guest payment with the same email."""
    r = api.post(
        "/v1/customers",
        data={
            "email": EMAIL,
            "name": NAME,
            "phone": PHONE,
            "address[line1]": "12 Analytical Row",
            "address[city]": "Marylebone",
            "description": "VIP Ada Lovelace",
            "metadata[crm_note]": "Ada prefers email",
        },
    )
    assert r.status_code == 200, r.text
    cus = r.json()["id"]
    r = api.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": cus})
    assert r.status_code == 200, r.text
    pm = r.json()["id"]
    with runtime.db.unit_of_work() as uow:
        row = uow.session.query(PaymentMethod).filter_by(id=pm).one()
        row.billing_details = {"email": EMAIL.lower(), "name": NAME, "phone": None}
        uow.commit()
    r = api.post(
        "/v1/payment_intents",
        data={
            "amount": "2500",
            "currency": "eur",
            "customer": cus,
            "payment_method": pm,
            "confirm": "true",
            "receipt_email": EMAIL,
            "description": "Order for Ada Lovelace",
            "metadata[shipping_to]": "12 Analytical Row",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "succeeded"
    pi = r.json()["id"]
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "700", "currency": "eur", "receipt_email": EMAIL.upper()},
    )
    assert r.status_code == 200, r.text
    return {"customer": cus, "payment_method": pm, "payment_intent": pi, "guest": r.json()["id"]}
