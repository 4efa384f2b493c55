"""How a batch's outcome reaches the database (the service decides what it is).

- ``write``: the balance slots under the overflow guard, then the transfers (``writes.py``);
  ``False`` if the guard held a slot back, then nothing of it stays (or, without
  ``take_back``, the caller's savepoint takes it back).
- ``exact``: the batch again with every balance known: every slot of its accounts locked in
  (account, slot) order and read, the rules run with the limits checked per transfer, each
  changed account's balance laid out afresh over its slots (``rules.pack``). Near the limit
  only, or when a batch moves more than a slot's share into one account.
- ``single``: one posted or pending transfer in one statement, PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from strongbox.core.errors import LedgerError
from strongbox.db.uow import UnitOfWork
from strongbox.ledger import writes
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    KIND_PENDING,
    KIND_POSTED,
)
from strongbox.ledger.rules import Batch, apply_batch, apply_one, deltas_of, pack, same
from strongbox.ledger.transfers import (
    MAX_BALANCE,
    AccountInfo,
    Balance,
    Transfer,
    TransferRequest,
    TransferResult,
    slot_share,
)
from strongbox.ledger.writes import SlotChange

REDO: Final = True
"""``single``'s answer when it took its statement back: redo the transfer the exact way."""


def slot_changes(b: Batch) -> list[SlotChange] | None:
    """Each account's change for its slot, in (account, slot) order; ``None`` if one is
    too large for any single slot."""
    out: list[SlotChange] = []
    for acct_id in sorted(b.deltas):
        dp, dpo, cp, cpo = b.deltas[acct_id].as_tuple()
        if not (dp or dpo or cp or cpo):
            continue
        share = slot_share(b.accounts[acct_id].slots)
        if dp + dpo > share or cp + cpo > share or min(dp, dpo, cp, cpo) < -MAX_BALANCE:
            return None
        out.append((acct_id, b.slot_of.get(acct_id, 0), dp, dpo, cp, cpo, share))
    return out


def write(uow: UnitOfWork, b: Batch, *, take_back: bool = True) -> bool:
    """The slots (guarded), then the transfers; ``False`` if the guard held a slot back:
    then no transfer is written, and (``take_back``) neither is any slot."""
    changes = slot_changes(b)
    if changes is None:
        return False
    session, dialect = uow.session, uow.dialect
    if dialect == "postgresql" and len(b.new) < writes.COPY_FROM:
        _inserted, updated = writes.write_small(session, b.merchant_id, changes, b.new)
        if len(updated) == len(changes):
            return True
    else:
        updated = writes.add_guarded(session, dialect, b.merchant_id, changes)
        if len(updated) == len(changes):
            writes.insert_transfers(session, dialect, b.new)
            return True
    if take_back:
        _take_back(session, b.merchant_id, changes, updated)
    return False


def _take_back(
    session: Session, merchant_id: str, changes: Iterable[SlotChange], updated: list[Any]
) -> None:
    done = set(updated)
    writes.add_to_slots(
        session,
        merchant_id,
        [
            (a, s, -dp, -dpo, -cp, -cpo, lim)
            for a, s, dp, dpo, cp, cpo, lim in changes
            if (a, s) in done
        ],
    )


def exact(
    uow: UnitOfWork,
    b: Batch,
    reqs: Sequence[TransferRequest],
    touched: set[str],
    allow_reserved: bool,
    invalid: dict[int, LedgerError],
) -> list[TransferResult]:
    """The batch with every balance known: all slots of its accounts locked and read, the
    limits checked per transfer, each changed balance laid out afresh over its slots."""
    session, dialect = uow.session, uow.dialect
    current: dict[str, dict[int, tuple[int, int, int, int]]] = {}
    for acct_id in touched:
        b.balances[acct_id] = Balance()
    for a, s, dp, dpo, cp, cpo in writes.lock_slots(
        session, dialect, b.merchant_id, sorted(touched)
    ):
        current.setdefault(a, {})[s] = (dp, dpo, cp, cpo)
        b.balances[a].add_stored(dp, dpo, cp, cpo)
    results = apply_batch(b, reqs, allow_reserved=allow_reserved, invalid=invalid)
    if not b.new:
        return results
    values: list[tuple[str, int, int, int, int, int]] = []
    for acct_id in sorted(b.deltas):
        if b.deltas[acct_id].as_tuple() == (0, 0, 0, 0):
            continue
        layout = pack(b.balances[acct_id].as_tuple(), b.accounts[acct_id].slots)
        old = current.get(acct_id, {})
        values.extend((acct_id, s, *new) for s, new in enumerate(layout) if old.get(s) != new)
    writes.set_slots(session, dialect, b.merchant_id, values)
    writes.insert_transfers(session, dialect, b.new)
    return results


def single(
    uow: UnitOfWork,
    merchant_id: str,
    r: TransferRequest,
    d: AccountInfo,
    c: AccountInfo,
    slots: tuple[int, int],
    allow_reserved: bool,
) -> TransferResult | bool | None:
    """One posted or pending transfer between ``d`` and ``c`` (known accounts) in one
    statement on PostgreSQL, into their slots ``slots``, when neither account is flagged
    against it. ``None``: not such a transfer, take the batch path (which also gives every
    error, in its own order of checks); ``REDO``: the statement was taken back (a slot was
    full, a concurrent writer stored this id first), take the exact way."""
    if r.kind not in (KIND_POSTED, KIND_PENDING) or r.pending_id or r.linked or d.id == c.id:
        return None
    if d.flags == DEBITS_MUST_NOT_EXCEED_CREDITS or c.flags == CREDITS_MUST_NOT_EXCEED_DEBITS:
        return None
    b = Batch(merchant_id, uow.clock.now(), accounts={d.id: d, c.id: c})
    try:
        t, _ = apply_one(b, r, [], allow_reserved)
    except LedgerError:
        return None
    (ddp, ddpo, _, _), (_, _, dcp, dcpo) = deltas_of(t, None)
    pair = sorted(
        [
            (d.id, slots[0], ddp, ddpo, 0, 0, slot_share(d.slots)),
            (c.id, slots[1], 0, 0, dcp, dcpo, slot_share(c.slots)),
        ]
    )
    written = writes.write_single(uow.session, t, (pair[0], pair[1]))
    if written is None:
        return REDO  # rolled back with its locks: they would be out of the redo's order
    inserted, stored = written
    if inserted:
        return TransferResult(0, t)
    assert stored is not None
    existing = Transfer.from_row(stored)
    try:
        same(existing, t)
    except LedgerError as exc:
        return TransferResult(0, error=exc)
    return TransferResult(0, existing, replayed=True)
