"""Stripe's idempotency semantics over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from strongbox.idempotency import service as idem
from strongbox.idempotency.models import IdempotencyKey
from strongbox.payments.models import PaymentIntent
from strongbox.runtime import Runtime

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def _count(rt: Runtime, model: type, **where: object) -> int:
    with rt.db.read() as s:
        stmt = sa.select(sa.func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(s.scalar(stmt) or 0)


def test_replay_is_byte_identical_and_executes_once(api: TestClient, runtime: Runtime) -> None:
    h = {"Idempotency-Key": "order-1"}
    first = api.post("/v1/payment_intents", data=PAY, headers=h)
    second = api.post("/v1/payment_intents", data=PAY, headers=h)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Idempotency-Key"] == "order-1"
    assert _count(runtime, PaymentIntent) == 1
    assert runtime.simulator is not None
    assert len(runtime.simulator.charges()) == 1


def test_json_and_form_bodies_with_same_params_share_a_key(api: TestClient) -> None:
    h = {"Idempotency-Key": "same-params"}
    first = api.post("/v1/payment_intents", data=PAY, headers=h)
    second = api.post("/v1/payment_intents", json=PAY, headers=h)
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["id"] == second.json()["id"]


def test_same_key_different_params_is_an_idempotency_error(api: TestClient) -> None:
    h = {"Idempotency-Key": "k-params"}
    assert api.post("/v1/payment_intents", data=PAY, headers=h).status_code == 200
    r = api.post("/v1/payment_intents", data={**PAY, "amount": "2001"}, headers=h)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "idempotency_error"
    assert "same parameters" in err["message"]


def test_same_key_on_another_endpoint_is_an_idempotency_error(api: TestClient) -> None:
    h = {"Idempotency-Key": "k-path"}
    assert api.post("/v1/customers", data={"email": "a@example.com"}, headers=h).status_code == 200
    r = api.post("/v1/payment_intents", data=PAY, headers=h)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "idempotency_error"


def test_validation_failures_are_not_stored(api: TestClient, runtime: Runtime) -> None:
    h = {"Idempotency-Key": "k-invalid"}
    bad = api.post("/v1/payment_intents", data={**PAY, "amount": "abc"}, headers=h)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "amount"
    assert _count(runtime, IdempotencyKey) == 0
    good = api.post("/v1/payment_intents", data=PAY, headers=h)
    assert good.status_code == 200
    assert good.json()["status"] == "succeeded"


def test_execution_errors_are_stored_and_replayed(api: TestClient, runtime: Runtime) -> None:
    h = {"Idempotency-Key": "k-decline"}
    body = {**PAY, "payment_method": "pm_card_chargeDeclined"}
    first = api.post("/v1/payment_intents", data=body, headers=h)
    second = api.post("/v1/payment_intents", data=body, headers=h)
    assert first.status_code == 402
    assert second.status_code == 402
    assert first.content == second.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert runtime.simulator is not None
    assert len(runtime.simulator.operations()) == 1


def test_missing_object_errors_are_stored(api: TestClient) -> None:
    h = {"Idempotency-Key": "k-404"}
    first = api.post("/v1/payment_intents/pi_missing/confirm", data={}, headers=h)
    second = api.post("/v1/payment_intents/pi_missing/confirm", data={}, headers=h)
    assert first.status_code == second.status_code == 404
    assert second.headers["Idempotent-Replayed"] == "true"


def test_keys_are_scoped_by_merchant(api: TestClient, new_merchant: Any) -> None:
    other = new_merchant("Other")
    h = {"Idempotency-Key": "shared-key"}
    a = api.post("/v1/payment_intents", data=PAY, headers=h)
    b = api.post("/v1/payment_intents", data=PAY, headers={**h, **other.headers})
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] != b.json()["id"]
    assert "Idempotent-Replayed" not in b.headers


def test_key_longer_than_255_characters_is_rejected(api: TestClient, runtime: Runtime) -> None:
    r = api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "k" * 256})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert _count(runtime, PaymentIntent) == 0
    ok = api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "k" * 255})
    assert ok.status_code == 200


def test_unexpected_500_is_stored_and_replayed(
    api: TestClient, runtime: Runtime, monkeypatch: object
) -> None:
    import pytest

    mp = monkeypatch
    assert isinstance(mp, pytest.MonkeyPatch)

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("bug")

    from strongbox.payments import customers

    mp.setattr(customers, "create", boom)
    h = {"Idempotency-Key": "k-500"}
    first = api.post("/v1/customers", data={"name": "x"}, headers=h)
    mp.undo()
    second = api.post("/v1/customers", data={"name": "x"}, headers=h)
    assert first.status_code == second.status_code == 500
    assert first.json()["error"]["type"] == "api_error"
    assert "bug" not in first.text
    assert first.content == second.content
    assert second.headers["Idempotent-Replayed"] == "true"


def _rewind_key(rt: Runtime, key: str, *, point: str, locked_ago: timedelta | None) -> None:
    now = rt.db.clock.now()
    with rt.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(
                response_status=None,
                response_body=None,
                recovery_point=point,
                locked_at=None if locked_ago is None else now - locked_ago,
            )
        )
        uow.commit()


def test_key_in_use_is_409(api: TestClient, runtime: Runtime) -> None:
    h = {"Idempotency-Key": "k-inuse"}
    assert api.post("/v1/customers", data={"name": "x"}, headers=h).status_code == 200
    _rewind_key(runtime, "k-inuse", point="started", locked_ago=timedelta(seconds=1))
    r = api.post("/v1/customers", data={"name": "x"}, headers=h)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["type"] == "idempotency_error"
    assert err["code"] == "idempotency_key_in_use"


def test_expired_lock_at_started_is_re_executed(api: TestClient, runtime: Runtime) -> None:
    h = {"Idempotency-Key": "k-expired"}
    first = api.post("/v1/customers", data={"name": "x"}, headers=h).json()
    _rewind_key(runtime, "k-expired", point="started", locked_ago=timedelta(minutes=5))
    again = api.post("/v1/customers", data={"name": "x"}, headers=h)
    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first["id"]


def test_expired_lock_with_gateway_work_waits_for_recovery(
    api: TestClient, runtime: Runtime
) -> None:
    h = {"Idempotency-Key": "k-attempt"}
    assert api.post("/v1/payment_intents", data=PAY, headers=h).status_code == 200
    _rewind_key(runtime, "k-attempt", point="attempt_created", locked_ago=timedelta(minutes=5))
    r = api.post("/v1/payment_intents", data=PAY, headers=h)
    assert r.status_code == 409
    assert _count(runtime, PaymentIntent) == 1


def test_reaper_removes_keys_after_ttl_only(api: TestClient, runtime: Runtime) -> None:
    h_old, h_new = {"Idempotency-Key": "old"}, {"Idempotency-Key": "new"}
    old = api.post("/v1/customers", data={"name": "x"}, headers=h_old).json()
    api.post("/v1/customers", data={"name": "x"}, headers=h_new)
    now = runtime.db.clock.now()
    with runtime.db.unit_of_work() as uow:
        uow.session.execute(
            sa.update(IdempotencyKey)
            .where(IdempotencyKey.key == "old")
            .values(created=now - timedelta(hours=25))
        )
        uow.commit()
    with runtime.db.unit_of_work() as uow:
        removed = idem.reap(uow, ttl=timedelta(hours=24), lock_timeout=timedelta(seconds=90))
        uow.commit()
    assert removed == 1
    assert _count(runtime, IdempotencyKey, key="new") == 1
    reused = api.post("/v1/customers", data={"name": "x"}, headers=h_old)
    assert "Idempotent-Replayed" not in reused.headers
    assert reused.json()["id"] != old["id"]


def test_requests_without_a_key_are_not_deduplicated(api: TestClient, runtime: Runtime) -> None:
    a = api.post("/v1/payment_intents", data=PAY).json()
    b = api.post("/v1/payment_intents", data=PAY).json()
    assert a["id"] != b["id"]
    assert _count(runtime, IdempotencyKey) == 0
