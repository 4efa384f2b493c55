"""The ledger's rules over a unit of work: accounts, transfers, balances, expiry.

``create_transfers`` reads what a batch names (its transfers and the pending transfers it
resolves, in one query; its accounts, cached per process once seen), runs the batch's rules
(``rules.py``: linked chains, TigerBeetle's checks and error names, the limits, who may
write which account) and writes the outcome (``write_path.py``): the balance slots first,
under the overflow guard, then the transfers (the statements: ``writes.py``).

Balances are the sums of an account's balance slots. A posting adds to one slot of each of
its accounts (chosen at random), so concurrent postings to one account rarely meet on a row.
Only when an account with a balance flag is about to be debited (or credited, for
``credits_must_not_exceed_debits``) are all of its slots locked, in order, to check the sum.
All row locks of a batch are taken in one statement, ordered by account and slot, so two
batches cannot deadlock each other.

Each slot holds at most its share of the account's limit, so a posting that fits its slot
fits the account: the guard needs nothing but the slot it updates. When a slot is full (or a
batch's change is too large for one slot), the batch is redone exactly: what the guarded
update applied is taken back (by the API's savepoint when there is one, so that no lock is
held out of order), every slot of the batch's accounts is locked and read, the rules run
again with every balance known (so an overflow fails its own transfer and chain, and nothing
else), and each changed account's balance is laid out afresh over its slots.

A single posted or pending transfer between accounts already seen, neither of them flagged
against it, takes one query on PostgreSQL (``write_path.single``): a savepoint and a prepared
statement that answers the replay, updates the two slots and inserts the transfer. With
BEGIN and COMMIT, three round trips.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from strongbox.core.errors import LedgerError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.ledger import repository as repo
from strongbox.ledger import write_path
from strongbox.ledger.models import (
    KIND_EXPIRE,
    LedgerAccount,
)
from strongbox.ledger.rules import (
    Batch,
    apply_batch,
    touched_accounts,
)
from strongbox.ledger.transfers import (
    EXPIRY_PREFIX,
    FLAG_NAMES,
    MAX_AMOUNT,
    MAX_BALANCE,
    MAX_BATCH,
    RESERVED_PREFIX,
    AccountInfo,
    Balance,
    Transfer,
    TransferRequest,
    TransferResult,
    balance_limit,
    err,
)
from strongbox.ledger.write_path import REDO

PG_SLOTS: Final = 16
"""Balance slots per account on PostgreSQL (SQLite has one writer, so one slot)."""


class _Redo(Exception):
    """A batch's guarded write held a slot back; its savepoint must go before the redo."""


def _account_info(a: Any) -> AccountInfo:
    return AccountInfo(a.id, a.merchant_id, a.purpose, a.currency, a.flags, a.slots)


class LedgerService:
    """Stateless rules over a unit of work (plus caches of accounts, which never change)."""

    def __init__(self) -> None:
        self._system_accounts: dict[tuple[str, str, str], AccountInfo] = {}
        self._rng = random.Random()  # slot choice, not security
        self._accounts: dict[tuple[str, str], AccountInfo] = {}

    def _remember(self, infos: list[AccountInfo]) -> None:
        if len(self._accounts) > 100_000:
            self._accounts.clear()
        for info in infos:
            self._accounts[(info.merchant_id, info.id)] = info

    # ------------------------------------------------------------------ accounts

    def slots_for(self, uow: UnitOfWork) -> int:
        return 1 if uow.dialect == "sqlite" else PG_SLOTS

    def _insert_account(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        purpose: str,
        currency: str,
        flags: int,
        metadata: dict[str, Any] | None = None,
    ) -> AccountInfo:
        """Create the account unless one with this purpose and currency exists (both safe
        under concurrency: ``ON CONFLICT DO NOTHING``); returns whichever is stored."""
        slots = self.slots_for(uow)
        acct_id = new_id("ledger_account")
        values = {
            "id": acct_id,
            "merchant_id": merchant_id,
            "purpose": purpose,
            "currency": currency,
            "flags": flags,
            "slots": slots,
            "metadata": metadata or {},
            "created": uow.clock.now(),
        }
        repo.insert_account(uow.session, uow.dialect, values, slots)
        return _account_info(
            repo.account_row_by_purpose(uow.session, merchant_id, purpose, currency)
        )

    def system_account(
        self, uow: UnitOfWork, merchant_id: str, purpose: str, currency: str, flags: int = 0
    ) -> AccountInfo:
        key = (merchant_id, purpose, currency)
        cached = self._system_accounts.get(key)
        if cached is not None:
            return cached
        info = self._insert_account(uow, merchant_id, purpose, currency, flags)
        uow.after_commit(lambda: self._system_accounts.__setitem__(key, info))
        return info

    def create_account(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        purpose: str,
        currency: str,
        flags: int,
        metadata: dict[str, Any] | None,
    ) -> tuple[LedgerAccount, bool]:
        """Create an account, or return the existing one with the same purpose, currency and
        flags (``True`` if it was created). Different flags are an error."""
        existing = self.find_account(uow, merchant_id, purpose, currency)
        if existing is None:
            info = self._insert_account(uow, merchant_id, purpose, currency, flags, metadata)
            created = True
        else:
            info = _account_info(existing)
            created = False
        if info.flags != flags:
            raise err(
                "account_exists_with_different_flags",
                f"An account for {purpose} in {currency} already exists with other flags.",
                "flags",
            )
        acct = repo.get_account(uow.session, merchant_id, info.id)
        assert acct is not None  # just found or inserted, in this transaction
        return acct, created

    def find_account(
        self, uow: UnitOfWork, merchant_id: str, purpose: str, currency: str
    ) -> LedgerAccount | None:
        return repo.find_account(uow.session, merchant_id, purpose, currency)

    def get_account(self, uow: UnitOfWork, merchant_id: str, account_id: str) -> LedgerAccount:
        acct = repo.get_account(uow.session, merchant_id, account_id)
        if acct is None:
            raise ResourceMissingError(f"No such ledger account: '{account_id}'", param="id")
        return acct

    def balances(
        self, session: Session, merchant_id: str, account_ids: Iterable[str]
    ) -> dict[str, Balance]:
        ids = list(account_ids)
        out: dict[str, Balance] = {a: Balance() for a in ids}
        for r in repo.slot_rows(session, merchant_id, ids):
            out[r[0]].add_stored(r[1], r[2], r[3], r[4])
        return out

    # ------------------------------------------------------------------ transfers

    def get_transfer(self, uow: UnitOfWork, merchant_id: str, transfer_id: str) -> Transfer:
        row = repo.transfer_row(uow.session, merchant_id, transfer_id)
        if row is None:
            raise ResourceMissingError(f"No such ledger transfer: '{transfer_id}'", param="id")
        return Transfer.from_row(row)

    def find_transfers(
        self, session: Session, merchant_id: str, ids: Iterable[str]
    ) -> dict[str, Transfer]:
        out: dict[str, Transfer] = {}
        id_list = list(dict.fromkeys(ids))
        if not id_list:
            return out
        for r in repo.transfer_rows(session, merchant_id, id_list):
            t = Transfer.from_row(r)
            out[t.id] = t
        return out

    def create_transfers(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        reqs: Sequence[TransferRequest],
        *,
        allow_reserved: bool = False,
        invalid: dict[int, LedgerError] | None = None,
        known: dict[str, Transfer] | None = None,
        accounts: Iterable[AccountInfo] | None = None,
    ) -> list[TransferResult]:
        """Apply a batch; ``invalid`` holds items that failed validation at the edge (by
        index): they fail their linked chain like any other failing transfer.

        ``allow_reserved`` is the posting rules' privilege: ids starting ``sb.`` and the
        system accounts. ``known`` and ``accounts`` let a caller that already read them (the
        posting rules) skip the lookups: ``known`` must hold every stored transfer the batch
        names (by id or pending id) and every stored resolution of those pending transfers;
        ``accounts`` every account the batch names."""
        if len(reqs) > MAX_BATCH:
            raise err(
                "too_many_transfers",
                f"A batch holds at most {MAX_BATCH} transfers.",
                "transfers",
            )
        exact = False
        if len(reqs) == 1 and not invalid and known is None and accounts is None:
            single = self._single(uow, merchant_id, reqs[0], allow_reserved)
            if isinstance(single, TransferResult):
                return [single]
            exact = single is REDO
        return self._create(
            uow, merchant_id, reqs, allow_reserved, invalid or {}, known, accounts, exact=exact
        )

    def _create(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        reqs: Sequence[TransferRequest],
        allow_reserved: bool,
        invalid: dict[int, LedgerError],
        known: dict[str, Transfer] | None,
        accounts: Iterable[AccountInfo] | None,
        *,
        exact: bool = False,
        redo_raises: bool = False,
    ) -> list[TransferResult]:
        """The batch path. ``exact``: straight to the exact way (a redo, holding none of the
        slot locks it needs, so it takes them all in order). ``redo_raises``: when the
        guarded write held a slot back, raise ``_Redo`` for the caller to roll back its
        savepoint (and the locks the write took) and come back with ``exact``, instead of
        taking the write back and going the exact way in place (the only choice without a
        savepoint; it holds those locks out of order, so two such redos can deadlock)."""
        b = self._read(uow, merchant_id, reqs, known, accounts)
        stored, resolved = dict(b.transfers), dict(b.resolved)
        touched, constrained = touched_accounts(b, reqs)
        if exact:
            return self._exact(uow, b, reqs, touched, allow_reserved, invalid)
        self._lock(uow, b, touched, constrained)
        results = apply_batch(b, reqs, allow_reserved=allow_reserved, invalid=invalid)
        if not b.new or self._write(uow, b, take_back=not redo_raises):
            return results
        if redo_raises:
            raise _Redo
        # A slot would pass its share: redo the batch with every balance known.
        again = Batch(
            merchant_id,
            b.now,
            size=b.size,
            transfers=stored,
            resolved=resolved,
            accounts=b.accounts,
        )
        return self._exact(uow, again, reqs, touched, allow_reserved, invalid)

    def _read(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        reqs: Sequence[TransferRequest],
        known: dict[str, Transfer] | None,
        accounts: Iterable[AccountInfo] | None,
    ) -> Batch:
        """The transfers the batch names (idempotency), the pending transfers it resolves and
        their resolutions, and its accounts."""
        session = uow.session
        b = Batch(merchant_id, uow.clock.now(), size=max(1, len(reqs)))
        pending_ids = list(dict.fromkeys(r.pending_id for r in reqs if r.pending_id))
        if known is not None:
            b.transfers = dict(known)
            for tr in known.values():
                if tr.pending_id:
                    b.resolved[tr.pending_id] = tr.kind
        else:
            b.transfers = self.find_transfers(
                session, merchant_id, [r.id for r in reqs] + pending_ids
            )
            if pending_ids:
                for pid, kind in repo.resolutions(session, uow.dialect, merchant_id, pending_ids):
                    b.resolved[pid] = kind
        if accounts is not None:
            b.accounts = {a.id: a for a in accounts if a.merchant_id == merchant_id}
            return b
        acct_ids: set[str] = set()
        for r in reqs:
            if r.debit_account_id:
                acct_ids.add(r.debit_account_id)
            if r.credit_account_id:
                acct_ids.add(r.credit_account_id)
        for tr in b.transfers.values():
            acct_ids.add(tr.debit_account_id)
            acct_ids.add(tr.credit_account_id)
        # Accounts never change identity, currency or flag, and are never deleted: once seen
        # committed, they are cached (per process) for good.
        missing = []
        for acct_id in sorted(acct_ids):
            hit = self._accounts.get((merchant_id, acct_id))
            if hit is not None:
                b.accounts[acct_id] = hit
            else:
                missing.append(acct_id)
        read: list[AccountInfo] = []
        for arow in repo.account_rows(session, merchant_id, missing):
            info = _account_info(arow)
            b.accounts[info.id] = info
            read.append(info)
        if read:
            uow.after_commit(lambda: self._remember(read))
        return b

    def _lock(self, uow: UnitOfWork, b: Batch, touched: set[str], constrained: set[str]) -> None:
        """Choose each account's slot (constrained accounts: slot 0) and read the exact sums
        of the constrained ones; on PostgreSQL their slots are locked together with the
        chosen slot of every other account, in one statement ordered by (account, slot)."""
        b.slot_of = {
            a: 0 if a in constrained else self._rng.randrange(b.accounts[a].slots) for a in touched
        }
        others = [(a, b.slot_of[a]) for a in sorted(touched - constrained)]
        rows = repo.constrained_slot_rows(
            uow.session, uow.dialect, b.merchant_id, constrained, others
        )
        for acct_id in constrained:
            b.balances[acct_id] = Balance()
        for row in rows:
            if row[0] in constrained:
                b.balances[row[0]].add_stored(row[1], row[2], row[3], row[4])

    def _write(self, uow: UnitOfWork, b: Batch, *, take_back: bool = True) -> bool:
        return write_path.write(uow, b, take_back=take_back)

    def _exact(
        self,
        uow: UnitOfWork,
        b: Batch,
        reqs: Sequence[TransferRequest],
        touched: set[str],
        allow_reserved: bool,
        invalid: dict[int, LedgerError],
    ) -> list[TransferResult]:
        return write_path.exact(uow, b, reqs, touched, allow_reserved, invalid)

    def _single(
        self, uow: UnitOfWork, merchant_id: str, r: TransferRequest, allow_reserved: bool
    ) -> TransferResult | bool | None:
        """``write_path.single`` with this service's account cache and slot choice."""
        if uow.dialect != "postgresql":
            return None
        d = self._accounts.get((merchant_id, r.debit_account_id or ""))
        c = self._accounts.get((merchant_id, r.credit_account_id or ""))
        if d is None or c is None:
            return None
        slots = (self._rng.randrange(d.slots), self._rng.randrange(c.slots))
        return write_path.single(uow, merchant_id, r, d, c, slots, allow_reserved)

    def create_transfers_retrying(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        reqs: Sequence[TransferRequest],
        *,
        invalid: dict[int, LedgerError] | None = None,
        attempts: int = 3,
    ) -> list[TransferResult]:
        """``create_transfers`` for the API. On PostgreSQL a batch runs in a savepoint and is
        re-run when a concurrent writer got there first (same id, same pending transfer:
        unique violation), a deadlock was broken, or the database's balance trigger refused:
        the re-run (the exact way: every lock taken in order, none held before) sees the
        committed rows and answers with a replay or a proper error. A single transfer that
        ``_single`` can write needs none of this (its own savepoint goes in the same round
        trip as its statement). SQLite has one writer: nothing to retry."""
        if uow.dialect != "postgresql":
            return self.create_transfers(uow, merchant_id, reqs, invalid=invalid)
        exact = False
        if len(reqs) == 1 and not invalid:
            single = self._single(uow, merchant_id, reqs[0], False)
            if isinstance(single, TransferResult):
                return [single]
            exact = single is REDO
        attempt = 0
        while True:
            try:
                with uow.session.begin_nested():
                    return self._create(
                        uow,
                        merchant_id,
                        reqs,
                        False,
                        invalid or {},
                        None,
                        None,
                        exact=exact,
                        redo_raises=True,
                    )
            except _Redo:
                exact = True  # the savepoint took the write and its locks back
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                retry = isinstance(exc, IntegrityError) or code in ("40P01", "40001")
                attempt += 1
                if not retry or attempt == attempts:
                    raise
                exact = True

    def list_accounts(
        self, session: Session, merchant_id: str, page: PageRequest, currency: str | None
    ) -> Page[LedgerAccount]:
        return repo.list_accounts(session, merchant_id, page, currency)

    def list_transfers(
        self,
        session: Session,
        merchant_id: str,
        page: PageRequest,
        *,
        account: str | None = None,
        source: str | None = None,
        created: dict[str, int] | None = None,
    ) -> Page[Transfer]:
        got = repo.list_transfers(
            session, merchant_id, page, account=account, source=source, created=created
        )
        return Page(data=[Transfer.from_model(m) for m in got.data], has_more=got.has_more)

    # ------------------------------------------------------------------ expiry

    def expire_due(self, uow: UnitOfWork, *, limit: int = 500) -> int:
        """Void pending transfers whose timeout has passed (system work, every merchant)."""
        now = uow.clock.now()
        rows = repo.due_expiries(uow.session, now, limit)
        by_merchant: dict[str, list[TransferRequest]] = {}
        for merchant_id, pid in rows:
            by_merchant.setdefault(merchant_id, []).append(
                TransferRequest(
                    id=f"{EXPIRY_PREFIX}{pid}"[:128],
                    kind=KIND_EXPIRE,
                    pending_id=pid,
                    code="expiry",
                )
            )
        n = 0
        for merchant_id, reqs in by_merchant.items():
            for res in self.create_transfers(uow, merchant_id, reqs, allow_reserved=True):
                n += 1 if res.ok and not res.replayed else 0
        return n


__all__ = [
    "FLAG_NAMES",
    "MAX_AMOUNT",
    "MAX_BALANCE",
    "MAX_BATCH",
    "RESERVED_PREFIX",
    "AccountInfo",
    "Balance",
    "LedgerService",
    "Transfer",
    "TransferRequest",
    "TransferResult",
    "balance_limit",
]
