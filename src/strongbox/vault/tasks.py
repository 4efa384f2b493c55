"""Background vault work: destroy expired CVCs, re-encrypt onto the active key, retire keys.

Run by a worker loop in the server (``workers/loops.py``) and by ``strongbox keys rotate``.
Each batch is its own transaction, so the work is resumable at any point and never blocks
requests for long (no downtime).
"""

from __future__ import annotations

from collections.abc import Callable

from strongbox.db.uow import Database
from strongbox.vault.keys import KeyManager, system_context
from strongbox.vault.service import VaultService


def reap_cvcs_once(db: Database, vault: VaultService, batch: int = 1000) -> int:
    with db.unit_of_work() as uow:
        n = vault.reap_expired_cvcs(uow, system_context("system:cvc-reaper"), limit=batch)
        uow.commit()
    return n


def reencrypt_once(db: Database, keys: KeyManager, batch: int = 200) -> int:
    """One batch of re-encryption, then retire versions nothing uses; returns rows moved."""
    with db.unit_of_work() as uow:
        moved = keys.reencrypt_batch(uow, batch)
        if moved < batch:
            keys.retire_unused(uow, system_context("system:key-rotation"))
        uow.commit()
    return moved


def reencrypt_all(
    db: Database,
    keys: KeyManager,
    *,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
) -> int:
    total = 0
    while True:
        moved = reencrypt_once(db, keys, batch)
        total += moved
        if progress is not None and moved:
            progress(moved)
        if moved < batch:
            return total


def vault_loop_once(db: Database, vault: VaultService, keys: KeyManager) -> int:
    """The worker loop body: returns >0 when there is more work right away."""
    reaped = reap_cvcs_once(db, vault)
    moved = reencrypt_once(db, keys)
    return reaped + moved if (reaped >= 1000 or moved >= 200) else 0
