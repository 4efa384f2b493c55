"""Requirements 3.6/3.7 (vault keys) and 8 (operators, API keys)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from compliance.conftest import RunControl
from strongbox.auth import operators
from strongbox.auth.models import ApiKey
from strongbox.auth.operator_models import Operator
from strongbox.core.secret import Secret
from strongbox.events.types import RequestContext
from strongbox.runtime import Runtime
from strongbox.vault.models import DataKey, KeyEncryptionKey
from support import Merchant

PASSWORD = "correct horse battery staple 42"  # pragma: allowlist secret


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
    assert ok["evidence"]["split_of_duties"].startswith("not enforced")
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(DataKey).where(DataKey.purpose == "seal").values(status="retired")
        )
        uow.commit()
    bad = check("3.6.1")
    assert bad["status"] == "fail"
    assert bad["evidence"]["retired_not_destroyed"] == ["seal v1"]


def test_operator_controls_are_not_applicable_until_operators_exist(
    runtime: Runtime, merchant: Merchant, check: RunControl
) -> None:
    for control_id in ("8.2.8", "8.3.4", "8.3.6", "8.4.2"):
        r = check(control_id)
        assert r["status"] == "not_applicable", control_id
        assert r["summary"] == "no operator accounts exist in this installation"
    with runtime.db.unit_of_work() as uow:
        ctx = RequestContext(merchant_id=merchant.id, actor="cli")
        op = operators.create(uow, ctx, "ops@example.com", "developer", Secret(PASSWORD))
        uow.commit()
    # An active operator without a second factor fails 8.4.2; the policies pass.
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.update(Operator).values(status="active", totp_confirmed=False))
        uow.commit()
    bad = check("8.4.2")
    assert bad["status"] == "fail"
    assert bad["evidence"]["active_without_second_factor"] == [op.id]
    assert check("8.2.8")["evidence"]["operator_session_idle_minutes"] == 15
    lock = check("8.3.4")
    assert (lock["status"], lock["evidence"]["max_failed_attempts"]) == ("pass", 10)
    assert lock["evidence"]["lockout_minutes"] == 30
    assert check("8.3.6")["evidence"]["min_length"] == 12
    assert PASSWORD not in str(check("8.3.6"))
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(sa.update(Operator).values(totp_confirmed=True))
        uow.commit()
    assert check("8.4.2")["status"] == "pass"


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
