"""Key hierarchy on every provider: first start, restart, rotation, re-encryption,
retirement, KEK rotation, listing and cryptoperiods, the data-key cache, the sealer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from strongbox.audit.models import AuditEntry
from strongbox.core.ids import new_id
from strongbox.core.secret import Secret
from strongbox.events.types import RequestContext
from strongbox.runtime import Runtime, build_runtime
from strongbox.vault import crypto
from strongbox.vault.keys import DATA, SEAL, system_context
from strongbox.vault.models import DataKey, KeyEncryptionKey, SubjectKey, VaultCard
from strongbox.vault.providers import KeyProviderError
from strongbox.vault.tasks import reencrypt_all
from vault.helpers import record_committed_events

MERCHANT = "acct_test"
CTX = RequestContext(merchant_id=MERCHANT, actor="test")


def store_cards(rt: Runtime, n: int) -> list[tuple[str, str]]:
    """n cards (with CVCs) and n customers' PII; returns (pm_id, token) pairs."""
    out = []
    with rt.db.unit_of_work() as uow:
        for i in range(n):
            pm_id = new_id("payment_method")
            token = rt.vault.service.tokenize(
                uow, MERCHANT, pm_id, Secret(f"42424242424242{i:02d}"), Secret("123")
            )
            rt.vault.service.seal_pii(uow, MERCHANT, f"cus_{i}", {"name": f"Name {i}"})
            out.append((pm_id, token))
        uow.commit()
    return out


def read_card(rt: Runtime, pm_id: str, token: str) -> str:
    with rt.db.unit_of_work() as uow:
        card = rt.vault.service.detokenize(uow, CTX, MERCHANT, pm_id, token, purpose="test")
        uow.commit()
    return card.number.reveal()


def versions(rt: Runtime, purpose: str) -> dict[int, str]:
    with rt.db.read() as s:
        rows = s.execute(
            select(DataKey.version, DataKey.status).where(DataKey.purpose == purpose)
        ).all()
    return dict(rows)


def backdate_active(rt: Runtime, seconds: float) -> None:
    with rt.db.unit_of_work() as uow:
        uow.session.execute(
            update(DataKey)
            .where(DataKey.status == "active")
            .values(created=uow.clock.now() - timedelta(seconds=seconds))
        )
        uow.commit()


def test_first_start_creates_the_hierarchy(vault_runtime: Runtime) -> None:
    rt = vault_runtime
    with rt.db.read() as s:
        keks = s.execute(select(KeyEncryptionKey.version, KeyEncryptionKey.status)).all()
        assert keks == [(1, "active")]
        rows = s.scalars(select(DataKey)).all()
        assert sorted((r.purpose, r.version, r.status) for r in rows) == [
            ("data", 1, "active"),
            ("mac", 1, "active"),
            ("seal", 1, "active"),
        ]
        for r in rows:
            assert r.wrapped_key is not None
            assert len(r.wrapped_key) >= 40  # wrapped, never the raw 32 bytes


def test_the_first_start_audits_its_keys_and_a_restart_adds_none(runtime: Runtime) -> None:
    def key_entries() -> list[str]:
        with runtime.db.read() as s:
            return sorted(
                s.scalars(
                    select(AuditEntry.resource_id).where(
                        AuditEntry.action == "strongbox.key.created"
                    )
                )
            )

    assert key_entries() == ["data_1", "kek_1", "mac_1", "seal_1"]
    build_runtime(runtime.settings).close()
    assert key_entries() == ["data_1", "kek_1", "mac_1", "seal_1"]


def test_restart_reads_what_was_stored(vault_runtime: Runtime) -> None:
    rt = vault_runtime
    pairs = store_cards(rt, 2)
    again = build_runtime(rt.settings)
    try:
        assert read_card(again, *pairs[1]) == "4242424242424201"
        with again.db.read() as s:
            assert (
                s.scalar(select(KeyEncryptionKey.version).where(KeyEncryptionKey.version == 2))
                is None
            )
    finally:
        again.close()


def test_missing_keyring_fails_the_start_instead_of_making_new_keys(runtime: Runtime) -> None:
    store_cards(runtime, 1)
    keyring = runtime.settings.data_dir / "vault-keyring.json"
    keyring.unlink()
    with pytest.raises(KeyProviderError) as exc:
        build_runtime(runtime.settings)
    assert exc.value.code == "vault_key_missing"
    assert not keyring.exists()


def test_rotation_reencrypts_in_the_background_and_retires_the_old_key(
    vault_runtime: Runtime,
) -> None:
    rt = vault_runtime
    pairs = store_cards(rt, 5)
    with rt.db.unit_of_work() as uow:
        blob = rt.vault.service.seal_pii(uow, MERCHANT, "cus_pii", {"email": "e@x.io"})
        uow.commit()
    events = record_committed_events(rt, "strongbox.key.*")
    with rt.db.unit_of_work() as uow:
        new = rt.vault.keys.rotate(uow, system_context("test"))
        uow.commit()
    assert new == {DATA: 2, SEAL: 2}
    assert versions(rt, DATA) == {1: "retiring", 2: "active"}
    assert {e.type for e in events} >= {"strongbox.key.rotated", "strongbox.key.retiring"}
    # No downtime: records on v1 still read, new records use v2.
    assert read_card(rt, *pairs[0]) == "4242424242424200"
    new_pairs = store_cards(rt, 1)
    with rt.db.read() as s:
        assert s.scalar(select(VaultCard.key_version).where(VaultCard.id == new_pairs[0][1])) == 2
        assert rt.vault.keys.remaining(s) == 16  # 5 cards + 5 CVCs + 6 customer keys
    progress: list[int] = []
    moved = reencrypt_all(rt.db, rt.vault.keys, batch=4, progress=progress.append)
    assert moved == 16
    assert sum(progress) == 16
    with rt.db.read() as s:
        assert rt.vault.keys.remaining(s) == 0
        assert set(s.scalars(select(SubjectKey.key_version))) == {2}
    # Retired only once every process's "active" cache has expired.
    assert versions(rt, DATA)[1] == "retiring"
    backdate_active(rt, 60)
    assert reencrypt_all(rt.db, rt.vault.keys) == 0
    assert versions(rt, DATA) == {1: "retired", 2: "active"}
    with rt.db.read() as s:
        old = s.scalars(select(DataKey).where(DataKey.purpose == DATA, DataKey.version == 1)).one()
        assert old.wrapped_key is None
    assert "strongbox.key.retired" in {e.type for e in events}
    rt.vault.keys.clear_cache()
    for pair, n in zip(pairs, range(5), strict=True):
        assert read_card(rt, *pair) == f"42424242424242{n:02d}"
    with rt.db.read() as s:
        assert rt.vault.service.open_pii(s, MERCHANT, "cus_pii", blob) == {"email": "e@x.io"}


def test_reencryption_resumes_after_an_interruption(vault_runtime: Runtime) -> None:
    rt = vault_runtime
    store_cards(rt, 3)
    with rt.db.unit_of_work() as uow:
        rt.vault.keys.rotate(uow, system_context("test"))
        uow.commit()
    with rt.db.unit_of_work() as uow:
        assert rt.vault.keys.reencrypt_batch(uow, 2) == 2
        uow.rollback()  # "crash": nothing of that batch is kept
    with rt.db.read() as s:
        assert rt.vault.keys.remaining(s) == 9
    with rt.db.unit_of_work() as uow:
        assert rt.vault.keys.reencrypt_batch(uow, 4) == 4
        uow.commit()
    assert reencrypt_all(rt.db, rt.vault.keys) == 5


def test_kek_rotation_rewraps_data_keys_and_destroys_the_old_kek(vault_runtime: Runtime) -> None:
    rt = vault_runtime
    pairs = store_cards(rt, 2)
    with rt.db.read() as s:
        old_label = s.scalars(select(KeyEncryptionKey.label)).one()
        before = {r.purpose: r.wrapped_key for r in s.scalars(select(DataKey))}
    events = record_committed_events(rt, "strongbox.key.*")
    with rt.db.unit_of_work() as uow:
        assert rt.vault.keys.rotate_kek(uow, system_context("test")) == 2
        uow.commit()
    assert not rt.vault.provider.has_kek(old_label)
    with rt.db.read() as s:
        rows = s.scalars(select(DataKey)).all()
        assert {r.kek_version for r in rows} == {2}
        assert all(r.wrapped_key != before[r.purpose] for r in rows)
        assert dict(s.execute(select(KeyEncryptionKey.version, KeyEncryptionKey.status)).all()) == {
            1: "retired",
            2: "active",
        }
    rt.vault.keys.clear_cache()
    assert read_card(rt, *pairs[0]) == "4242424242424200"
    kek_events = [e for e in events if e.type == "strongbox.key.kek_rotated"]
    assert kek_events[0].object["rewrapped_data_keys"] == 3
    # And a restart finds the new KEK.
    again = build_runtime(rt.settings)
    try:
        assert read_card(again, *pairs[1]) == "4242424242424201"
    finally:
        again.close()


def test_list_keys_reports_usage_age_and_overdue(vault_runtime: Runtime) -> None:
    rt = vault_runtime
    store_cards(rt, 2)
    with rt.db.read() as s:
        infos = rt.vault.keys.list_keys(s, rt.db.clock.now())
    by = {(i.kind, i.version): i for i in infos}
    assert by[("data", 1)].records == 6
    assert by[("kek", 1)].records == 3
    assert by[("seal", 1)].records is None
    assert not any(i.overdue for i in infos)
    backdate_active(rt, 91 * 86400)
    with rt.db.read() as s:
        infos = rt.vault.keys.list_keys(s, rt.db.clock.now())
    overdue = {(i.kind, i.version) for i in infos if i.overdue}
    assert overdue == {("data", 1), ("seal", 1)}  # the mac root is exempt
    assert {i.age_days for i in infos if i.kind == "data"} == {91}


def test_unwrapped_keys_are_cached_so_the_provider_is_off_the_request_path(
    vault_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = vault_runtime
    pairs = store_cards(rt, 1)
    calls: list[str] = []
    original = rt.vault.provider.unwrap

    def counting(label: str, wrapped: bytes) -> bytes:
        calls.append(label)
        return original(label, wrapped)

    monkeypatch.setattr(rt.vault.provider, "unwrap", counting)
    rt.vault.keys.clear_cache()
    for _ in range(5):
        read_card(rt, *pairs[0])
    assert len(calls) == 1
    rt.vault.keys.cache_seconds = 0
    rt.vault.keys.clear_cache()
    read_card(rt, *pairs[0])
    read_card(rt, *pairs[0])
    assert len(calls) >= 3  # every read unwraps again


def test_ciphertext_is_bound_to_its_merchant_and_payment_method(vault_runtime: Runtime) -> None:
    rt = vault_runtime
    (pm_a, tok_a), (pm_b, _tok_b) = store_cards(rt, 2)
    with rt.db.unit_of_work() as uow:
        a = uow.session.scalars(select(VaultCard).where(VaultCard.id == tok_a)).one()
        copy = VaultCard(
            id="vtok_copy",
            merchant_id=MERCHANT,
            payment_method_id=pm_b,
            key_version=a.key_version,
            ciphertext=a.ciphertext,
            created=a.created,
        )
        uow.session.add(copy)
        uow.commit()
    with rt.db.unit_of_work() as uow, pytest.raises(crypto.DecryptionError):
        rt.vault.service.detokenize(uow, CTX, MERCHANT, pm_b, "vtok_copy", purpose="test")
    with rt.db.unit_of_work() as uow, pytest.raises(Exception, match="not available"):
        rt.vault.service.detokenize(uow, CTX, "acct_other", pm_a, tok_a, purpose="test")


def test_sealer_round_trip_binding_and_rotation(vault_runtime: Runtime) -> None:
    sealer = vault_runtime.sealer
    sealed = sealer.seal(b"whsec_abc", b"acct_1|we_1")
    assert b"whsec_abc" not in sealed
    assert sealer.unseal(sealed, b"acct_1|we_1") == b"whsec_abc"
    assert sealer.seal(b"whsec_abc", b"acct_1|we_1") != sealed  # random nonce
    with pytest.raises(crypto.DecryptionError):
        sealer.unseal(sealed, b"acct_1|we_2")
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(crypto.DecryptionError):
        sealer.unseal(bytes(tampered), b"acct_1|we_1")
    with pytest.raises(crypto.DecryptionError):
        sealer.unseal(b"garbage", b"acct_1|we_1")
    rt = vault_runtime
    with rt.db.unit_of_work() as uow:
        rt.vault.keys.rotate(uow, system_context("test"))
        uow.commit()
    rt.vault.keys.clear_cache()
    newer = sealer.seal(b"x", b"a")
    assert newer[4:8] == (2).to_bytes(4, "big")
    assert sealer.unseal(sealed, b"acct_1|we_1") == b"whsec_abc"  # old versions still open


def test_master_key_runtime_refuses_kek_rotation(settings: Any) -> None:
    import base64
    import os

    from pydantic import SecretStr

    s = settings.model_copy(
        update={"master_key": SecretStr(base64.b64encode(os.urandom(32)).decode())}
    )
    rt = build_runtime(s)
    try:
        assert not (s.data_dir / "vault-keyring.json").exists()
        with rt.db.unit_of_work() as uow, pytest.raises(KeyProviderError) as exc:
            rt.vault.keys.rotate_kek(uow, system_context("test"))
        assert exc.value.code == "vault_kek_rotation_unsupported"
    finally:
        rt.close()
