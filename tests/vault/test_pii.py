"""Customer PII: encrypted under a per-customer key, found by a blind index, crypto-shredded."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from strongbox.payments.models import Customer
from strongbox.runtime import Runtime
from strongbox.vault.models import SubjectKey
from vault.helpers import record_committed_events

PII = {
    "name": "Grace Hopper-Unique",
    "email": "grace.unique@example.org",
    "phone": "+15550001234",
    "address[line1]": "1 Unique Compiler Way",
    "address[city]": "Arlington",
}


def raw_customer_row(rt: Runtime, cus_id: str) -> dict[str, Any]:
    with rt.db.read() as s:
        row = s.execute(text("SELECT * FROM customers WHERE id = :id"), {"id": cus_id}).mappings()
        return dict(row.one())


def test_pii_is_stored_only_encrypted(runtime: Runtime, api: TestClient) -> None:
    r = api.post("/v1/customers", data=PII)
    assert r.status_code == 200, r.text
    cus = r.json()
    assert cus["name"] == PII["name"]
    assert cus["email"] == PII["email"]
    assert cus["phone"] == PII["phone"]
    assert cus["address"]["line1"] == PII["address[line1]"]
    row = raw_customer_row(runtime, cus["id"])
    assert row["name"] is None
    assert row["email"] is None
    assert row["phone"] is None
    assert row["address"] in (None, "null")  # JSON null
    blob = bytes(row["pii"])
    for value in PII.values():
        assert value.encode() not in blob
    assert row["email_index"]
    assert PII["email"] not in row["email_index"]
    assert api.get(f"/v1/customers/{cus['id']}").json() == cus


def test_updates_reencrypt_and_keep_untouched_fields(runtime: Runtime, api: TestClient) -> None:
    cus = api.post("/v1/customers", data=PII).json()
    r = api.post(f"/v1/customers/{cus['id']}", data={"phone": "+15559990000"})
    assert r.status_code == 200
    body = r.json()
    assert body["phone"] == "+15559990000"
    assert body["name"] == PII["name"]
    assert body["email"] == PII["email"]
    r = api.post(f"/v1/customers/{cus['id']}", data={"email": ""})
    assert r.json()["email"] is None
    assert raw_customer_row(runtime, cus["id"])["email_index"] is None
    assert api.get("/v1/customers", params={"email": PII["email"]}).json()["data"] == []


def test_email_filter_uses_the_blind_index(
    api: TestClient, client: TestClient, new_merchant: Any
) -> None:
    a = api.post("/v1/customers", data={"email": "Same@Example.com"}).json()
    api.post("/v1/customers", data={"email": "other@example.com"})
    found = api.get("/v1/customers", params={"email": "same@example.com"}).json()["data"]
    assert [c["id"] for c in found] == [a["id"]]
    assert found[0]["email"] == "Same@Example.com"  # shown as given
    # Another merchant's index key differs: same email, no cross-tenant match.
    m2 = new_merchant()
    client.post("/v1/customers", data={"email": "same@example.com"}, headers=m2.headers)
    mine = api.get("/v1/customers", params={"email": "same@example.com"}).json()["data"]
    assert [c["id"] for c in mine] == [a["id"]]


def test_blind_index_differs_per_merchant(runtime: Runtime) -> None:
    with runtime.db.read() as s:
        a = runtime.vault.service.blind_index(s, "acct_a", "email", "x@example.com")
        b = runtime.vault.service.blind_index(s, "acct_b", "email", "x@example.com")
        assert a != b
        assert a == runtime.vault.service.blind_index(s, "acct_a", "email", "x@example.com")


def test_expanded_customer_on_a_payment_method_is_decrypted(api: TestClient) -> None:
    cus = api.post("/v1/customers", data=PII).json()
    pm = api.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": cus["id"]}).json()
    r = api.get(f"/v1/payment_methods/{pm['id']}", params={"expand[]": "customer"})
    assert r.json()["customer"]["email"] == PII["email"]


def test_delete_crypto_shreds_the_customer_key(runtime: Runtime, api: TestClient) -> None:
    cus = api.post("/v1/customers", data=PII).json()
    blob = bytes(raw_customer_row(runtime, cus["id"])["pii"])
    events = record_committed_events(runtime, "strongbox.vault.subject_key_destroyed")
    r = api.delete(f"/v1/customers/{cus['id']}")
    assert r.status_code == 200
    assert r.json() == {"id": cus["id"], "object": "customer", "deleted": True}
    with runtime.db.read() as s:
        sk = s.scalars(select(SubjectKey).where(SubjectKey.subject_id == cus["id"])).one()
        assert sk.wrapped_key is None
        assert sk.destroyed_at is not None
        assert runtime.vault.service.open_pii(s, sk.merchant_id, cus["id"], blob) is None
    assert [e.resource_id for e in events] == [cus["id"]]
    assert raw_customer_row(runtime, cus["id"])["email_index"] is None
    # The ids stay (ledger and audit refer to them); the data cannot be read any more.
    assert api.get(f"/v1/customers/{cus['id']}").json()["deleted"] is True


def test_rows_from_before_the_vault_are_still_read_and_found(
    runtime: Runtime, api: TestClient
) -> None:
    cus = api.post("/v1/customers", data={"description": "legacy"}).json()
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            text(
                "UPDATE customers SET email = 'old@example.com', name = 'Old', pii = NULL "
                "WHERE id = :id"
            ),
            {"id": cus["id"]},
        )
        uow.commit()
    got = api.get(f"/v1/customers/{cus['id']}").json()
    assert (got["email"], got["name"]) == ("old@example.com", "Old")
    found = api.get("/v1/customers", params={"email": "old@example.com"}).json()["data"]
    assert [c["id"] for c in found] == [cus["id"]]
    # The next write encrypts and clears the plaintext.
    api.post(f"/v1/customers/{cus['id']}", data={"phone": "+1555"})
    row = raw_customer_row(runtime, cus["id"])
    assert row["email"] is None
    assert row["name"] is None
    assert api.get(f"/v1/customers/{cus['id']}").json()["email"] == "old@example.com"


def test_customer_model_refuses_to_decrypt_without_the_vault(
    runtime: Runtime, api: TestClient
) -> None:
    from sqlalchemy.orm import Session

    cus = api.post("/v1/customers", data=PII).json()
    with Session(runtime.db.engine) as s:
        c = s.scalars(select(Customer).where(Customer.id == cus["id"])).one()
        with pytest.raises(RuntimeError, match="vault"):
            _ = c.email
