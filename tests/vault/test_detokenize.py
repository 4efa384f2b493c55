"""Detokenization: only in the payments service, as Secrets, for one call, always audited."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from strongbox.connectors.base import AuthorizeRequest
from strongbox.core.secret import Secret
from strongbox.payments import gateway
from strongbox.runtime import Runtime
from vault.helpers import form_card, record_committed_events


def test_confirm_detokenizes_once_as_secrets_with_an_audited_event(
    runtime: Runtime, api: TestClient, monkeypatch: Any
) -> None:
    pm = api.post("/v1/payment_methods", data=form_card("4242424242424242", "314")).json()
    seen: list[AuthorizeRequest] = []
    original = gateway.execute

    def spy(deps: Any, call: Any) -> Any:
        if isinstance(call.request, AuthorizeRequest):
            seen.append(call.request)
        return original(deps, call)

    monkeypatch.setattr(gateway, "execute", spy)
    events = record_committed_events(runtime, "strongbox.vault.detokenized")
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "1500", "currency": "eur", "payment_method": pm["id"], "confirm": "true"},
    )
    assert r.json()["status"] == "succeeded"
    assert len(seen) == 1
    card = seen[0].card
    assert isinstance(card.number, Secret)
    assert isinstance(card.cvc, Secret)
    assert card.number.reveal() == "4242424242424242"
    assert card.cvc.reveal() == "314"
    assert "4242424242424242" not in repr(seen[0])
    assert len(events) == 1
    ev = events[0]
    assert ev.internal
    assert ev.resource_id == pm["id"]
    assert ev.object["purpose"] == "authorization"
    assert ev.context.actor.startswith("api_key:")
    assert "4242424242424242" not in repr(ev)
    assert "314" not in str(ev.object)


def test_a_rejected_confirm_detokenizes_nothing(runtime: Runtime, api: TestClient) -> None:
    pm = api.post("/v1/payment_methods", data=form_card("4242424242424242")).json()
    events = record_committed_events(runtime, "strongbox.vault.detokenized")
    # A currency the platform rejects fails before the card is read: nothing detokenized.
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "1500", "currency": "xxx", "payment_method": pm["id"], "confirm": "true"},
    )
    assert r.status_code == 400
    assert events == []


def test_vault_tables_hold_no_plaintext(runtime: Runtime, api: TestClient) -> None:
    from sqlalchemy import select

    from strongbox.vault.models import DataKey, VaultCard

    api.post("/v1/payment_methods", data=form_card("5555555555554444"))
    with runtime.db.read() as s:
        blobs = list(s.scalars(select(VaultCard.ciphertext)))
        keys = list(s.scalars(select(DataKey.wrapped_key)))
    assert len(blobs) == 1
    assert b"5555555555554444" not in blobs[0]
    assert len(blobs[0]) == 12 + 16 + 16  # nonce + PAN + tag
    raw_keys = runtime.vault.keys
    for row in keys:
        assert row is not None
    with runtime.db.read() as s:
        key = raw_keys.active(s, "data")
    assert all(key.raw not in (row or b"") for row in keys)
