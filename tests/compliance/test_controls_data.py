"""Requirement 3: CVCs after their TTL or authorization, readable PANs, vaulted cards."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from compliance.conftest import RunControl
from strongbox.payments.models import PaymentMethod
from strongbox.runtime import Runtime
from strongbox.vault.models import DataKey, VaultCvc
from vault.helpers import form_card


def _card(api: TestClient) -> str:
    r = api.post("/v1/payment_methods", data=form_card("4242424242424242"))
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_3_3_1_a_cvc_within_its_ttl_passes_one_past_it_fails(
    api: TestClient, runtime: Runtime, check: RunControl
) -> None:
    _card(api)
    ok = check("3.3.1")
    assert ok["status"] == "pass"
    assert ok["evidence"]["cvcs_held"] == 1
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(VaultCvc).values(expires_at=uow.clock.now() - timedelta(minutes=6))
        )
        uow.commit()
    bad = check("3.3.1")
    assert bad["status"] == "fail"
    assert bad["evidence"]["past_ttl"] == 1
    assert len(bad["evidence"]["past_ttl_ids"]) == 1


def test_3_3_1_a_cvc_kept_after_the_check_was_recorded_fails(
    api: TestClient, runtime: Runtime, check: RunControl
) -> None:
    pm = _card(api)
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(PaymentMethod).where(PaymentMethod.id == pm).values(card_cvc_check="pass")
        )
        uow.commit()
    bad = check("3.3.1")
    assert bad["status"] == "fail"
    assert bad["evidence"]["after_authorization"] == 1


def test_3_3_1_an_authorization_destroys_the_cvc_and_the_check_passes(
    api: TestClient, check: RunControl
) -> None:
    pm = _card(api)
    r = api.post(
        "/v1/payment_intents",
        data={"amount": "500", "currency": "usd", "payment_method": pm, "confirm": "true"},
    )
    assert r.status_code == 200, r.text
    ok = check("3.3.1")
    assert (ok["status"], ok["evidence"]["cvcs_held"]) == ("pass", 0)


def test_3_4_1_a_pan_planted_in_metadata_is_found_by_table_column_and_row(
    api: TestClient, check: RunControl
) -> None:
    assert check("3.4.1")["status"] == "pass"
    r = api.post("/v1/customers", data={"metadata[note]": "card 4111-1111-1111-1111"})
    assert r.status_code == 200, r.text
    cus = r.json()["id"]
    bad = check("3.4.1")
    assert bad["status"] == "fail"
    findings = bad["evidence"]["database"]["findings"]
    assert {"table": "customers", "column": "metadata", "row_id": cus} in findings
    # The customer.created event's payload copy carries it too.
    assert "events" in bad["evidence"]["database"]["findings_by_table"]
    assert "4111" not in str(bad)  # never the digits


def test_3_4_1_a_pan_in_a_log_file_is_found_by_file_and_line(
    runtime: Runtime, check: RunControl
) -> None:
    log = Path(runtime.settings.data_dir) / "logs" / "strongbox.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text('{"msg": "ok"}\n{"msg": "charged 5555555555554444"}\n')
    bad = check("3.4.1")
    assert bad["status"] == "fail"
    assert bad["evidence"]["logs"]["findings"] == [{"file": str(log), "line": 2}]
    assert "5555" not in str(bad)


def test_3_5_1_cards_under_a_live_key_pass_an_orphaned_card_fails(
    api: TestClient, runtime: Runtime, check: RunControl
) -> None:
    _card(api)
    ok = check("3.5.1")
    assert (ok["status"], ok["evidence"]["vault_cards"]) == ("pass", 1)
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(DataKey).where(DataKey.purpose == "data").values(wrapped_key=None)
        )
        uow.commit()
    bad = check("3.5.1")
    assert (bad["status"], bad["evidence"]["cards_without_data_key"]) == ("fail", 1)
