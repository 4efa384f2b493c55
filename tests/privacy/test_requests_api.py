"""Data subject requests over HTTP: access, portability and erasure end to end."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from privacy_seed import EMAIL, NAME, seed

from strongbox.audit.models import AuditEntry
from strongbox.ledger.verify import verify_ledger
from strongbox.privacy.certificate import certificate_valid
from strongbox.runtime import Runtime
from support import Merchant, error_of


def test_access_request_by_email_exports_every_record(api: TestClient, runtime: Runtime) -> None:
    ids = seed(api, runtime)
    r = api.post("/v1/privacy/requests", data={"type": "access", "email": EMAIL})
    assert r.status_code == 200, r.text
    req = r.json()
    assert req["object"] == "privacy_request"
    assert req["status"] == "completed"
    assert req["email_provided"] is True
    # One month after receipt (Art. 12(3)): 28 to 31 days.
    assert 28 * 86400 <= req["due_at"] - req["created"] <= 31 * 86400
    assert req["found"]["customers"] == 1
    assert req["found"]["payment_intents"] == 2
    assert EMAIL.lower() not in json.dumps(req).lower()  # the request never echoes the email

    bundle = api.get(f"/v1/privacy/requests/{req['id']}/export").json()
    assert bundle["customers"][0]["email"] == EMAIL
    assert bundle["customers"][0]["name"] == NAME
    assert bundle["customers"][0]["metadata"] == {"crm_note": "Ada prefers email"}
    assert {pi["id"] for pi in bundle["payment_intents"]} == {ids["payment_intent"], ids["guest"]}
    card = bundle["payment_methods"][0]["card"]
    assert card["last4"] == "4242"
    assert "4242424242424242" not in json.dumps(bundle)
    assert bundle["payment_methods"][0]["billing_details"]["email"] == EMAIL.lower()
    assert any(e["type"] == "customer.created" for e in bundle["events"])
    assert any(a["resource_id"] == ids["customer"] for a in bundle["audit_entries"])

    html = api.get(f"/v1/privacy/requests/{req['id']}/export", params={"format": "html"})
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "Ada &lt;b&gt;Lovelace" in html.text  # autoescaped
    assert "<b>Lovelace" not in html.text


def test_portability_request_by_customer(api: TestClient, runtime: Runtime) -> None:
    ids = seed(api, runtime)
    r = api.post("/v1/privacy/requests", data={"type": "portability", "customer": ids["customer"]})
    assert r.status_code == 200, r.text
    bundle = api.get(f"/v1/privacy/requests/{r.json()['id']}/export").json()
    assert bundle["format"] == "strongbox.privacy_export.v1"
    # The customer's email widens the search to the guest payment made with it.
    assert ids["guest"] in {pi["id"] for pi in bundle["payment_intents"]}


def _audit_ok(runtime: Runtime) -> None:
    runtime.audit.integrate(runtime.db)
    report = runtime.audit.verify(runtime.db)
    assert report.ok, report.problems


def test_erasure_end_to_end(api: TestClient, runtime: Runtime) -> None:
    ids = seed(api, runtime)
    _audit_ok(runtime)
    r = api.post("/v1/privacy/requests", data={"type": "erasure", "customer": ids["customer"]})
    assert r.status_code == 200, r.text
    req = r.json()
    assert req["status"] == "completed"
    steps = [s["step"] for s in req["steps"]]
    assert steps == [
        "received",
        "find",
        "legal_hold",
        "crypto_shred",
        "scrub",
        "verify",
        "certificate",
    ]
    hold = req["steps"][3 - 1]
    assert hold["kept"]["payment_intents"] == 1  # the paid one; AML keeps it five years
    assert req["steps"][3]["keys_destroyed"] == 1
    assert req["steps"][5]["remaining"] == {
        "readable_pii": 0,
        "found_by_email": 0,
        "copies_mentioning_subject": 0,
        "card_records": 0,
    }
    cert = req["certificate"]
    assert certificate_valid(cert, {runtime.audit.signer.public_key})
    forged = {**cert, "erased_at": cert["erased_at"] + 1}
    assert not certificate_valid(forged)

    # Nothing readable is left anywhere the API shows.
    cus = api.get(f"/v1/customers/{ids['customer']}").json()
    assert cus.get("email") is None
    assert cus.get("name") is None
    everything = json.dumps(
        [
            api.get("/v1/events", params={"limit": "100"}).json(),
            api.get(f"/v1/payment_intents/{ids['payment_intent']}").json(),
            api.get(f"/v1/payment_intents/{ids['guest']}").json(),
            api.get(f"/v1/payment_methods/{ids['payment_method']}").json(),
        ]
    ).lower()
    for value in ("ada.lovelace@example.com", "lovelace", "analytical row", "7946"):
        assert value not in everything, value
    # The paid payment is kept (legal hold), pseudonymised.
    pi = api.get(f"/v1/payment_intents/{ids['payment_intent']}").json()
    assert pi["amount"] == 2500
    assert pi["customer"] == ids["customer"]
    # Ledger and audit log intact and verifiable.
    with runtime.db.reader() as uow:
        assert verify_ledger(uow.session).ok
    _audit_ok(runtime)
    # A second request finds nothing by the email any more.
    again = api.post("/v1/privacy/requests", data={"type": "access", "email": EMAIL}).json()
    assert again["found"]["customers"] == 0
    assert again["found"]["payment_intents"] == 0


def test_requests_are_listed_retrieved_and_audited(api: TestClient, runtime: Runtime) -> None:
    ids = seed(api, runtime)
    made = [
        api.post("/v1/privacy/requests", data={"type": t, "customer": ids["customer"]}).json()
        for t in ("access", "portability")
    ]
    listed = api.get("/v1/privacy/requests").json()
    assert [r["id"] for r in listed["data"]] == [made[1]["id"], made[0]["id"]]
    got = api.get(f"/v1/privacy/requests/{made[0]['id']}").json()
    assert got["type"] == "access"
    with runtime.db.reader() as uow:
        actions = {(e.action, e.resource_id) for e in uow.session.query(AuditEntry)}
    assert ("strongbox.privacy.request_created", made[0]["id"]) in actions
    assert ("strongbox.privacy.access_completed", made[0]["id"]) in actions


def test_bad_input_is_a_stripe_error_and_changes_nothing(
    api: TestClient, runtime: Runtime, new_merchant: Any
) -> None:
    ids = seed(api, runtime)
    cases: list[tuple[dict[str, str], int, str | None]] = [
        ({"type": "forget_me", "customer": ids["customer"]}, 400, "type"),
        ({"type": "access"}, 400, "customer"),
        ({"type": "erasure", "customer": "cus_nope"}, 404, "customer"),
        ({"type": "access", "email": "not-an-email"}, 400, "email"),
    ]
    for data, status, param in cases:
        err = error_of(api.post("/v1/privacy/requests", data=data), status)
        assert err["param"] == param, data
    assert api.get("/v1/privacy/requests").json()["data"] == []
    # Another merchant can neither erase nor see the customer.
    other: Merchant = new_merchant()
    r = api.post(
        "/v1/privacy/requests",
        data={"type": "erasure", "customer": ids["customer"]},
        headers=other.headers,
    )
    assert r.status_code == 404
    assert api.get(f"/v1/customers/{ids['customer']}").json()["email"] == EMAIL
    erase = api.post("/v1/privacy/requests", data={"type": "erasure", "customer": ids["customer"]})
    r = api.get(f"/v1/privacy/requests/{erase.json()['id']}/export")
    assert error_of(r, 400)["code"] == "privacy_request_no_export"
    r = api.get(f"/v1/privacy/requests/{erase.json()['id']}", headers=other.headers)
    assert r.status_code == 404


def test_export_and_retrieve_refuse_bad_input(api: TestClient, runtime: Runtime) -> None:
    ids = seed(api, runtime)
    req = api.post("/v1/privacy/requests", data={"type": "access", "customer": ids["customer"]})
    rid = req.json()["id"]
    assert error_of(api.get(f"/v1/privacy/requests/{rid}/export", params={"format": "xml"}), 400)
    assert error_of(api.get(f"/v1/privacy/requests/{rid}/export", params={"x": "1"}), 400)
    assert error_of(api.get("/v1/privacy/requests/dsr_nope/export"), 404)["param"] == "id"
    assert error_of(api.get("/v1/privacy/requests/dsr_nope"), 404)["code"] == "resource_missing"
    err = error_of(api.post("/v1/privacy/requests", data={"type": "access", "customer": ""}), 400)
    assert err["type"] == "invalid_request_error"
    # Without a key: 401.
    assert api.get("/v1/privacy/requests", headers={"Authorization": ""}).status_code == 401
