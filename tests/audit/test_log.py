"""The audit log end to end: entries for every event, integration, heads, proofs, API."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from strongbox.audit import merkle, service
from strongbox.audit.heads import Signer, TreeHead
from strongbox.audit.models import AuditEntry
from strongbox.core.ids import new_id
from strongbox.core.settings import Settings
from strongbox.events.types import DomainEvent, RequestContext
from strongbox.runtime import Runtime, build_runtime
from support import Merchant, error_of

PAY = {"amount": "2000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}


def entries(rt: Runtime) -> list[AuditEntry]:
    with rt.db.read() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        s.expunge_all()
        return rows


def pay(api: TestClient, **extra: str) -> dict[str, Any]:
    r = api.post("/v1/payment_intents", data={**PAY, **extra})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_every_event_of_a_payment_leaves_an_entry_in_its_transaction(
    api: TestClient, runtime: Runtime, merchant: Merchant
) -> None:
    pi = pay(api, **{"metadata[order]": "1"})
    with runtime.db.read() as s:
        from strongbox.events.models import OutboxEvent

        events = list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)))
        s.expunge_all()
    # Internal events (key operations, detokenizations) have entries of their own.
    rows = [e for e in entries(runtime) if not e.action.startswith("strongbox.")]
    assert [e.event_id for e in rows] == [e.id for e in events]
    assert len(rows) >= 2
    for row, ev in zip(rows, events, strict=True):
        assert row.action == ev.type
        assert row.merchant_id == merchant.id
        assert row.resource_type == "payment_intent"
        assert row.resource_id == pi["id"]
        assert row.actor.startswith("api_key:key_")
        assert row.request_id
        assert row.request_id.startswith("req_")
        assert row.source_ip == "testclient"
        assert row.outcome == "success"
        assert row.after_digest == service.digest(ev.data["object"])
        assert row.leaf_index is None  # not yet integrated
    # Digests only: the intent itself is not stored.
    assert "pm_card_visa" not in repr([vars(r) for r in rows])


def test_a_failed_write_leaves_no_entry(api: TestClient, runtime: Runtime) -> None:
    r = api.post("/v1/payment_intents", data={"amount": "-1", "currency": "usd"})
    error_of(r, 400)
    assert entries(runtime) == []


def test_internal_events_and_explicit_records(runtime: Runtime, merchant: Merchant) -> None:
    ctx = RequestContext(merchant_id=merchant.id, actor="api_key:key_x", source_ip="10.0.0.1")
    with runtime.db.unit_of_work() as uow:
        uow.raise_event(
            DomainEvent(
                id=new_id("event"),
                type="strongbox.webhook.signature_invalid",
                merchant_id=merchant.id,
                resource_type="webhook_endpoint",
                resource_id="we_1",
                object={"endpoint": "we_1"},
                created=uow.clock.now(),
                context=ctx,
                extra={"outcome": "failure"},
                internal=True,
            )
        )
        service.record(uow, action="strongbox.config.changed", actor="cli", before={"a": 1})
        uow.commit()
    a, b = entries(runtime)
    assert (a.action, a.outcome, a.source_ip, a.actor) == (
        "strongbox.webhook.signature_invalid",
        "failure",
        "10.0.0.1",
        "api_key:key_x",
    )
    assert b.merchant_id is None
    assert b.actor == "cli"
    assert b.before_digest == service.digest({"a": 1})
    assert b.after_digest is None
    with runtime.db.unit_of_work() as uow, pytest.raises(ValueError, match="outcome"):
        service.record(uow, action="x", outcome="maybe")


def test_integration_assigns_contiguous_indexes_and_matches_the_definition(
    api: TestClient, runtime: Runtime
) -> None:
    for _ in range(3):
        pay(api)
    assert runtime.audit.integrate(runtime.db) == len(entries(runtime))
    rows = entries(runtime)
    assert [r.leaf_index for r in rows] == list(range(len(rows)))  # write order
    leaves = [service.leaf_bytes(r, r.leaf_index or 0) for r in rows]
    assert json.loads(leaves[0])["sequence"] == 0
    with runtime.db.read() as s:
        state = service.tree_state(s)
        tree = service.stored_tree(s)
        assert state.size == len(rows)
        assert state.root == merkle.root(leaves) == tree.root(len(rows))
        for i in range(len(rows)):
            assert tree.inclusion_proof(i, len(rows)) == merkle.inclusion_proof(leaves, i)
    assert runtime.audit.integrate(runtime.db) == 0


def test_heads_are_signed_stored_and_appended_to_the_external_file(
    api: TestClient, runtime: Runtime
) -> None:
    pay(api)
    head = runtime.audit.sign(runtime.db)
    assert head is not None
    assert head.signature_valid()
    assert runtime.audit.sign(runtime.db) is None  # the tree did not grow
    forced = runtime.audit.sign(runtime.db, force=True)
    assert forced is not None
    lines = runtime.audit.sink.path.read_text().splitlines()
    assert [TreeHead.from_dict(json.loads(line)) for line in lines] == [head, forced]
    assert stat.S_IMODE(os.stat(runtime.audit.sink.path).st_mode) == 0o600
    r = api.get("/v1/audit/tree_head")
    assert r.status_code == 200
    body = r.json()
    assert body["tree_size"] == head.tree_size
    assert body["public_key"] == head.public_key
    assert base64.b64decode(body["public_key"]) == runtime.audit.signer.public_raw
    # A tampered head fails its signature.
    bad = TreeHead.from_dict({**body, "tree_size": body["tree_size"] + 1})
    assert not bad.signature_valid()


def test_signing_key_file_is_created_0600_and_reused(settings: Settings) -> None:
    rt = build_runtime(settings)
    try:
        path = settings.data_dir / "audit_signing_key.pem"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        first = rt.audit.signer.public_key
        assert "PRIVATE" not in repr(rt.audit.signer)
    finally:
        rt.close()
    rt2 = build_runtime(settings, migrate=False)
    try:
        assert rt2.audit.signer.public_key == first
    finally:
        rt2.close()


def test_signing_key_from_the_environment(settings: Settings) -> None:
    seed = bytes(range(32))
    key = Ed25519PrivateKey.from_private_bytes(seed)
    s = settings.model_copy(update={"audit_signing_key": base64.b64encode(seed).decode()})
    s = Settings.model_validate({**s.model_dump(), "audit_signing_key": base64.b64encode(seed)})
    rt = build_runtime(s)
    try:
        from cryptography.hazmat.primitives import serialization

        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        assert rt.audit.signer.public_raw == raw
        assert not (settings.data_dir / "audit_signing_key.pem").exists()
        assert "AAECAw" not in repr(s)  # the seed is masked in settings
    finally:
        rt.close()
    with pytest.raises(ValueError, match="32 bytes"):
        Signer.from_text(base64.b64encode(b"short").decode())


def test_events_api_lists_only_the_merchants_entries_with_filters(
    api: TestClient, runtime: Runtime, merchant: Merchant, new_merchant: Any, client: TestClient
) -> None:
    pi = pay(api)
    other = new_merchant("Other")
    r = client.post("/v1/payment_intents", data=PAY, headers=other.headers)
    assert r.status_code == 200
    runtime.audit.integrate(runtime.db)
    mine = api.get("/v1/audit/events").json()
    assert mine["object"] == "list"
    assert mine["url"] == "/v1/audit/events"
    assert mine["data"]
    assert all(e["merchant"] == merchant.id for e in mine["data"])
    assert all(e["resource"]["id"] == pi["id"] for e in mine["data"])
    first = mine["data"][0]
    assert first["object"] == "audit_event"
    assert isinstance(first["sequence"], int)
    assert len(first["leaf_hash"]) == 64
    theirs = client.get("/v1/audit/events", headers=other.headers).json()["data"]
    assert {e["id"] for e in theirs}.isdisjoint({e["id"] for e in mine["data"]})
    # Filters
    by_action = api.get("/v1/audit/events", params={"action": "payment_intent.succeeded"})
    assert [e["action"] for e in by_action.json()["data"]] == ["payment_intent.succeeded"]
    prefix = api.get("/v1/audit/events", params={"action": "payment_intent.*"}).json()["data"]
    assert len(prefix) == len(mine["data"])
    none = api.get("/v1/audit/events", params={"resource": "pi_nope"}).json()["data"]
    assert none == []
    actor = first["actor"]
    assert api.get("/v1/audit/events", params={"actor": actor}).json()["data"]
    assert not api.get("/v1/audit/events", params={"actor": "cli"}).json()["data"]
    t = first["created"]
    assert api.get("/v1/audit/events", params={"created[gte]": t}).json()["data"]
    assert not api.get("/v1/audit/events", params={"created[gt]": t + 100}).json()["data"]
    page = api.get("/v1/audit/events", params={"limit": 1}).json()
    assert page["has_more"] is True
    assert len(page["data"]) == 1
    nxt = api.get(
        "/v1/audit/events", params={"limit": 1, "starting_after": page["data"][0]["id"]}
    ).json()
    assert nxt["data"][0]["id"] != page["data"][0]["id"]
    err = error_of(api.get("/v1/audit/events", params={"limit": 0}), 400)
    assert err["param"] == "limit"
    error_of(api.get("/v1/audit/events", params={"bogus": 1}), 400)


def test_inclusion_and_consistency_proofs_over_the_api(
    api: TestClient, runtime: Runtime, merchant: Merchant, new_merchant: Any, client: TestClient
) -> None:
    error_of(api.get("/v1/audit/tree_head"), 404)
    pay(api)
    small = runtime.audit.sign(runtime.db)
    assert small is not None
    other = new_merchant("Other")
    client.post("/v1/payment_intents", data=PAY, headers=other.headers)
    pay(api)
    head = runtime.audit.sign(runtime.db)
    assert head is not None
    root = bytes.fromhex(head.root_hash)
    rows = entries(runtime)
    for row in rows:
        idx = row.leaf_index
        assert idx is not None
        r = api.get("/v1/audit/proofs/inclusion", params={"index": idx})
        if row.merchant_id != merchant.id:
            assert error_of(r, 404)["param"] == "index"  # others' leaves: hashes only
            continue
        body = r.json()
        assert body["tree_size"] == head.tree_size
        assert body["root_hash"] == head.root_hash
        assert body["tree_head"]["signature"] == head.signature
        proof = [bytes.fromhex(h) for h in body["audit_path"]]
        assert merkle.verify_inclusion(body["leaf"].encode(), idx, head.tree_size, proof, root)
        assert json.loads(body["leaf"])["id"] == row.id
    # An explicit older size
    r = api.get("/v1/audit/proofs/inclusion", params={"index": 0, "tree_size": small.tree_size})
    assert r.json()["root_hash"] == small.root_hash
    c = api.get(
        "/v1/audit/proofs/consistency",
        params={"first": small.tree_size, "second": head.tree_size},
    ).json()
    assert c["first_root_hash"] == small.root_hash
    assert c["second_root_hash"] == head.root_hash
    assert merkle.verify_consistency(
        small.tree_size,
        head.tree_size,
        bytes.fromhex(small.root_hash),
        root,
        [bytes.fromhex(h) for h in c["proof"]],
    )
    # Bad input: Stripe-shaped errors
    n = head.tree_size
    for params, param in [
        ({"index": n, "tree_size": n}, "index"),
        ({"index": 0, "tree_size": n + 1}, "tree_size"),
        ({"index": -1}, "index"),
        ({"index": "x"}, "index"),
        ({}, "index"),
    ]:
        assert error_of(api.get("/v1/audit/proofs/inclusion", params=params), 400)["param"] == (
            param
        )
    for params, param in [
        ({"first": 3, "second": 2}, "first"),
        ({"first": 0, "second": 2}, "first"),
        ({"first": 1, "second": n + 1}, "second"),
        ({"first": 1}, "second"),
    ]:
        assert (
            error_of(api.get("/v1/audit/proofs/consistency", params=params), 400)["param"] == param
        )
    error_of(client.get("/v1/audit/events", headers={"Authorization": "Bearer sk_test_x"}), 401)


def test_the_worker_loops_integrate_and_sign(runtime: Runtime, api: TestClient) -> None:
    from strongbox.workers.audit import audit_loops

    pay(api)
    integrate, sign, retention = audit_loops(runtime)
    assert integrate.fn() == 0  # fewer than a batch: nothing left waiting
    assert entries(runtime)[0].leaf_index == 0
    sign.fn()
    with runtime.db.read() as s:
        from strongbox.audit.heads import latest_head

        head = latest_head(s)
        assert head is not None
        assert head.tree_size == len(entries(runtime))
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == head.tree_size
    assert retention.fn() == 0  # nothing is 400 days old
    assert len(entries(runtime)) == head.tree_size


def test_retention_rejects_less_than_a_year(settings: Settings) -> None:
    with pytest.raises(ValueError, match="365"):
        Settings.model_validate({**settings.model_dump(), "audit_retention_days": 300})


def test_clock_moves_entries_times(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as uow:
        e = service.record(uow, action="x.y")
        uow.commit()
    assert abs(e["created"] - runtime.db.clock.now()) < timedelta(seconds=5)
    assert entries(runtime)[0].id == e["id"]


def test_entries_recorded_in_a_rolled_back_unit_of_work_vanish(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as uow:
        service.record(uow, action="x.y")
        service.flush_pending(uow.session)
        uow.rollback()
    with runtime.db.unit_of_work() as uow:
        service.record(uow, action="x.z")
        # not committed: the with-block rolls back
    with runtime.db.unit_of_work() as uow:  # rolled back, then the session commits again
        service.record(uow, action="x.w")
        uow.rollback()
        service.record(uow, action="x.kept")
        uow.commit()
    assert [e.action for e in entries(runtime)] == ["x.kept"]
