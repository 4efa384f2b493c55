"""CVC: held encrypted only until the first authorization or its TTL, then destroyed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from strongbox.events.types import RequestContext
from strongbox.payments import payment_methods
from strongbox.runtime import Runtime
from strongbox.vault.models import VaultCard, VaultCvc
from strongbox.vault.tasks import reap_cvcs_once
from support import Merchant
from vault.helpers import form_card, record_committed_events, sqlite_file_bytes

CVC = "7391"  # an Amex CVC that appears nowhere else


def _tokenize(api: TestClient) -> str:
    r = api.post("/v1/payment_methods", data=form_card("378282246310005", CVC))
    assert r.status_code == 200, r.text
    pm_id: str = r.json()["id"]
    return pm_id


def _cvc_rows(rt: Runtime, pm_id: str) -> list[Any]:
    with rt.db.read() as s:
        return list(
            s.execute(
                select(VaultCvc.ciphertext, VaultCvc.created, VaultCvc.expires_at).where(
                    VaultCvc.payment_method_id == pm_id
                )
            ).all()
        )


@pytest.mark.parametrize("number", ["378282246310005", "4000000000000002"])
def test_cvc_is_destroyed_in_the_authorization_transaction(
    runtime: Runtime, api: TestClient, backend: str, number: str
) -> None:
    cvc = CVC if number.startswith("3") else "739"
    r = api.post("/v1/payment_methods", data=form_card(number, cvc))
    pm_id = r.json()["id"]
    rows = _cvc_rows(runtime, pm_id)
    assert len(rows) == 1
    old_ciphertext = rows[0].ciphertext
    assert cvc.encode() not in old_ciphertext
    if backend == "sqlite":  # the check below can see it while it exists
        assert old_ciphertext in sqlite_file_bytes(runtime)
    destroyed = record_committed_events(runtime, "strongbox.vault.cvc_destroyed")
    api.post(
        "/v1/payment_intents",
        data={"amount": "500", "currency": "usd", "payment_method": pm_id, "confirm": "true"},
    )
    assert _cvc_rows(runtime, pm_id) == []
    assert [e.resource_id for e in destroyed] == [pm_id]
    assert destroyed[0].object["reason"] == "authorized"
    # The PAN stays (for later merchant-initiated payments), the CVC does not.
    with runtime.db.read() as s:
        assert s.scalar(select(VaultCard.id).where(VaultCard.payment_method_id == pm_id))
    if backend == "sqlite":
        raw = sqlite_file_bytes(runtime)
        assert old_ciphertext not in raw
        assert number.encode() not in raw


def test_a_second_payment_goes_without_the_cvc(runtime: Runtime, api: TestClient) -> None:
    pm_id = _tokenize(api)
    seen = record_committed_events(runtime, "strongbox.vault.detokenized")
    for _ in range(2):
        r = api.post(
            "/v1/payment_intents",
            data={"amount": "500", "currency": "usd", "payment_method": pm_id, "confirm": "true"},
        )
        assert r.json()["status"] == "succeeded"
    assert [e.object["cvc"] for e in seen] == [True, False]


def test_cvc_past_its_ttl_is_not_used_and_is_reaped(
    runtime: Runtime, api: TestClient, merchant: Merchant
) -> None:
    pm_id = _tokenize(api)
    now = runtime.db.clock.now()
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            update(VaultCvc)
            .where(VaultCvc.payment_method_id == pm_id)
            .values(expires_at=now - timedelta(seconds=1))
        )
        uow.commit()
    ctx = RequestContext(merchant_id=merchant.id, actor="test")
    with runtime.db.unit_of_work() as uow:
        token = payment_methods.retrieve(uow, ctx, pm_id).card_source[6:]
        card = runtime.vault.service.detokenize(uow, ctx, merchant.id, pm_id, token, purpose="test")
        assert card.cvc is None
        assert card.number.reveal() == "378282246310005"
    destroyed = record_committed_events(runtime, "strongbox.vault.cvc_destroyed")
    assert reap_cvcs_once(runtime.db, runtime.vault.service) == 1
    assert _cvc_rows(runtime, pm_id) == []
    assert destroyed[0].object["reason"] == "expired"
    assert reap_cvcs_once(runtime.db, runtime.vault.service) == 0


def test_default_ttl_is_one_hour(runtime: Runtime, api: TestClient) -> None:
    pm_id = _tokenize(api)
    row = _cvc_rows(runtime, pm_id)[0]
    assert row.expires_at - row.created == timedelta(hours=1)
    # Not yet expired: the reaper leaves it.
    assert reap_cvcs_once(runtime.db, runtime.vault.service) == 0
    assert len(_cvc_rows(runtime, pm_id)) == 1
