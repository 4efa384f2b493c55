"""Requirements 3.6/3.7 (vault keys) and 8 (operators, API keys)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from compliance.conftest import RunControl
from strongbox.auth.models import ApiKey
from strongbox.compliance.checks_keys import NO_OPERATORS
from strongbox.runtime import Runtime
from strongbox.vault.models import DataKey, KeyEncryptionKey
from support import Merchant


def _age(runtime: Runtime, model: type, days: int) -> None:
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.update(model).values(created=uow.clock.now() - timedelta(days=days)))
        uow.commit()


def test_3_7_4_young_keys_pass_an_aged_data_key_fails(runtime: Runtime, check: RunControl) -> None:
    ok = check("3.7.4")
    assert ok["status"] == "pass"
    assert ok["evidence"]["active_kek_age_days"] == 0
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(DataKey)
            .where(DataKey.purpose == "data")
            .values(created=uow.clock.now() - timedelta(days=91))
        )
        uow.commit()
    bad = check("3.7.4")
    assert bad["status"] == "fail"
    assert [k["kind"] for k in bad["evidence"]["overdue"]] == ["data"]


def test_3_7_4_an_aged_kek_fails_with_its_age(runtime: Runtime, check: RunControl) -> None:
    _age(runtime, KeyEncryptionKey, 200)
    bad = check("3.7.4")
    assert bad["status"] == "fail"
    assert bad["evidence"]["active_kek_age_days"] == 200


def test_3_6_1_retired_keys_must_be_destroyed(runtime: Runtime, check: RunControl) -> None:
    ok = check("3.6.1")
    assert ok["status"] == "pass"
    assert ok["evidence"]["split_of_duties"] == "not applicable: " + NO_OPERATORS
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(DataKey).where(DataKey.purpose == "seal").values(status="retired")
        )
        uow.commit()
    bad = check("3.6.1")
    assert bad["status"] == "fail"
    assert bad["evidence"]["retired_not_destroyed"] == ["seal v1"]


def test_operator_controls_are_not_applicable_until_operators_exist(
    runtime: Runtime, check: RunControl
) -> None:
    for control_id in ("8.2.8", "8.3.4", "8.3.6", "8.4.2"):
        r = check(control_id)
        assert (r["status"], r["summary"]) == ("not_applicable", NO_OPERATORS), control_id
    with runtime.db.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE operators (id VARCHAR(64) PRIMARY KEY)"))
    try:
        # An operators table this check has no rules for: never a pass.
        assert check("8.4.2")["status"] == "fail"
    finally:
        with runtime.db.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE operators"))


def test_8_6_3_old_and_unused_secret_keys_fail(
    runtime: Runtime, merchant: Merchant, check: RunControl
) -> None:
    ok = check("8.6.3")
    assert (ok["status"], ok["evidence"]["secret_keys"]) == ("pass", 1)
    _age(runtime, ApiKey, 100)  # unused for 100 days: no audit entry made with it
    bad = check("8.6.3")
    assert bad["status"] == "fail"
    assert (bad["evidence"]["unused_count"], bad["evidence"]["older_than_max_age_count"]) == (1, 0)
    _age(runtime, ApiKey, 400)
    older = check("8.6.3")
    assert older["evidence"]["older_than_max_age_count"] == 1
    assert merchant.secret_key not in str(older)


def test_8_6_3_a_key_in_use_is_not_unused(runtime: Runtime, api: object, check: RunControl) -> None:
    _age(runtime, ApiKey, 100)
    r = api.post("/v1/customers", data={"name": "recent use"})  # type: ignore[attr-defined]
    assert r.status_code == 200
    ok = check("8.6.3")
    assert (ok["status"], ok["evidence"]["unused_count"]) == ("pass", 0)
