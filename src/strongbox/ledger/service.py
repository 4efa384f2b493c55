"""The ledger's rules: accounts, two-phase transfers with TigerBeetle's semantics, balances.

``create_transfers`` takes a batch, splits it into linked chains (a run of ``linked`` transfers
and the one that closes it) and applies each chain completely or not at all; every item gets
a result (the transfer, or a Stripe-shaped error). It uses one query per kind of lookup and
SQLAlchemy Core bulk writes, whatever the batch size.

Balances are the sums of an account's balance slots. A posting adds to one slot of each of
its accounts (chosen at random), so concurrent postings to one account rarely meet on a row.
Only when an account with a balance flag is about to be debited (or credited, for
``credits_must_not_exceed_debits``) are all of its slots locked, in order, to check the sum.
All row locks of a batch are taken in one statement, ordered by account and slot, so two
batches cannot deadlock each other.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from strongbox.core.errors import LedgerError, ResourceMissingError
from strongbox.core.ids import new_id, new_ids
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.ledger import repository as repo
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    KIND_EXPIRE,
    KIND_PENDING,
    KIND_POST,
    KIND_POSTED,
    KIND_VOID,
    LedgerAccount,
    LedgerTransfer,
)

MAX_BATCH: Final = 8190
"""Most transfers in one batch (TigerBeetle's batch size)."""
RESERVED_PREFIX: Final = "sb."
"""Transfer ids the posting rules use; clients cannot choose them."""
ID_RE: Final = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")
PURPOSE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
CODE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
PG_SLOTS: Final = 16
"""Balance slots per account on PostgreSQL (SQLite has one writer, so one slot)."""

FLAG_NAMES: Final = {
    0: None,
    DEBITS_MUST_NOT_EXCEED_CREDITS: "debits_must_not_exceed_credits",
    CREDITS_MUST_NOT_EXCEED_DEBITS: "credits_must_not_exceed_debits",
}


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    merchant_id: str
    purpose: str
    currency: str
    flags: int
    slots: int


@dataclass(slots=True)
class Balance:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def add(self, dp: int, dpo: int, cp: int, cpo: int) -> None:
        self.debits_pending += dp
        self.debits_posted += dpo
        self.credits_pending += cp
        self.credits_posted += cpo

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One transfer to create. For ``post``/``void`` the accounts, currency and (for a full
    post) the amount may be omitted: they are taken from the pending transfer."""

    id: str
    kind: str = KIND_POSTED  # posted | pending | post | void (expire is ours only)
    debit_account_id: str | None = None
    credit_account_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    pending_id: str | None = None
    timeout: int | None = None  # seconds, pending transfers only
    linked: bool = False
    code: str = "transfer"
    source: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    txn_id: str
    merchant_id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    kind: str
    pending_id: str | None
    timeout_at: datetime | None
    code: str
    source: str | None
    linked: bool
    metadata: dict[str, Any]
    created: datetime

    @classmethod
    def from_row(cls, row: Any) -> Transfer:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            id=m["id"],
            txn_id=m["txn_id"],
            merchant_id=m["merchant_id"],
            debit_account_id=m["debit_account_id"],
            credit_account_id=m["credit_account_id"],
            amount=m["amount"],
            currency=m["currency"],
            kind=m["kind"],
            pending_id=m["pending_id"],
            timeout_at=m["timeout_at"],
            code=m["code"],
            source=m["source"],
            linked=bool(m["linked"]),
            metadata=dict(m["metadata"] or {}),
            created=m["created"],
        )

    @classmethod
    def from_model(cls, m: LedgerTransfer) -> Transfer:
        return cls(
            id=m.id,
            txn_id=m.txn_id,
            merchant_id=m.merchant_id,
            debit_account_id=m.debit_account_id,
            credit_account_id=m.credit_account_id,
            amount=m.amount,
            currency=m.currency,
            kind=m.kind,
            pending_id=m.pending_id,
            timeout_at=m.timeout_at,
            code=m.code,
            source=m.source,
            linked=bool(m.linked),
            metadata=dict(m.metadata_ or {}),
            created=m.created,
        )

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "txn_id": self.txn_id,
            "merchant_id": self.merchant_id,
            "debit_account_id": self.debit_account_id,
            "credit_account_id": self.credit_account_id,
            "amount": self.amount,
            "currency": self.currency,
            "kind": self.kind,
            "pending_id": self.pending_id,
            "timeout_at": self.timeout_at,
            "code": self.code,
            "source": self.source,
            "linked": self.linked,
            "metadata": self.metadata,
            "created": self.created,
        }


@dataclass(slots=True)
class TransferResult:
    index: int
    transfer: Transfer | None = None
    error: LedgerError | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _err(code: str, message: str, param: str | None = None) -> LedgerError:
    return LedgerError(message, code=code, param=param)


def _account_info(a: Any) -> AccountInfo:
    return AccountInfo(a.id, a.merchant_id, a.purpose, a.currency, a.flags, a.slots)


def _chains(reqs: Sequence[TransferRequest]) -> list[list[int]]:
    chains: list[list[int]] = []
    current: list[int] = []
    for i, r in enumerate(reqs):
        current.append(i)
        if not r.linked:
            chains.append(current)
            current = []
    if current:
        chains.append(current)  # an open chain: the last transfer is linked
    return chains


class _Batch:
    """The state of one ``create_transfers`` call: what the database holds, plus this batch."""

    def __init__(self, session: Session, merchant_id: str, now: datetime) -> None:
        self.session = session
        self.merchant_id = merchant_id
        self.now = now
        self.transfers: dict[str, Transfer] = {}  # by client id: existing and new
        self.resolved: dict[str, str] = {}  # pending id -> kind of its resolution
        self.accounts: dict[str, AccountInfo] = {}
        self.balances: dict[str, Balance] = {}  # locked constrained accounts: current sums
        self.deltas: dict[str, Balance] = {}  # per account, this batch's changes
        self.new: list[Transfer] = []
        self.slot_of: dict[str, int] = {}  # the slot each account's changes go to
        self._txn_ids: list[str] = []
        self.batch_size = 1

    def txn_id(self) -> str:
        if not self._txn_ids:
            self._txn_ids = new_ids("balance_transaction", self.batch_size)
        return self._txn_ids.pop()


class LedgerService:
    """Stateless rules over a unit of work (plus a cache of system account ids)."""

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
            raise _err(
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
            out[r[0]].add(r[1], r[2], r[3], r[4])
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

        ``known`` and ``accounts`` let a caller that already read them (the posting rules)
        skip the lookups: ``known`` must hold every stored transfer the batch names (by id or
        pending id) and every stored resolution of those pending transfers; ``accounts``
        every account the batch names."""
        if len(reqs) > MAX_BATCH:
            raise _err(
                "too_many_transfers",
                f"A batch holds at most {MAX_BATCH} transfers.",
                "transfers",
            )
        session = uow.session
        b = _Batch(session, merchant_id, uow.clock.now())
        b.batch_size = max(1, len(reqs))
        # 1. Transfers named by the batch (idempotency) and the pending transfers it resolves.
        pending_ids = list(dict.fromkeys(r.pending_id for r in reqs if r.pending_id))
        if known is not None:
            b.transfers = dict(known)
        else:
            b.transfers = self.find_transfers(
                session, merchant_id, [r.id for r in reqs] + pending_ids
            )
        if known is not None:
            for tr in known.values():
                if tr.pending_id:
                    b.resolved[tr.pending_id] = tr.kind
        elif pending_ids:
            for pid, kind in repo.resolutions(session, uow.dialect, merchant_id, pending_ids):
                b.resolved[pid] = kind
        # 2. Accounts.
        if accounts is not None:
            b.accounts = {a.id: a for a in accounts if a.merchant_id == merchant_id}
        else:
            acct_ids: set[str] = set()
            for r in reqs:
                if r.debit_account_id:
                    acct_ids.add(r.debit_account_id)
                if r.credit_account_id:
                    acct_ids.add(r.credit_account_id)
            for tr in b.transfers.values():
                acct_ids.add(tr.debit_account_id)
                acct_ids.add(tr.credit_account_id)
            # Accounts never change identity, currency or flag, and are never deleted: once
            # seen committed, they are cached (per process) for good.
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
        # 3. Row locks, all in one ordered statement; sums of the constrained accounts.
        self._lock(uow, b, reqs)
        # 4. Apply chain by chain.
        results: list[TransferResult] = [TransferResult(index=i) for i in range(len(reqs))]
        for chain in _chains(reqs):
            self._apply_chain(b, reqs, chain, results, allow_reserved, invalid or {})
        # 5. Write.
        if b.new:
            self._insert_transfers(uow, b.new)
            self._write_slots(uow, b)
        return results

    def _lock(self, uow: UnitOfWork, b: _Batch, reqs: Sequence[TransferRequest]) -> None:
        constrained: set[str] = set()
        touched: set[str] = set()
        in_batch = {r.id: r for r in reqs}
        for r in reqs:
            debit, credit = r.debit_account_id, r.credit_account_id
            if r.pending_id and r.pending_id in b.transfers:
                p = b.transfers[r.pending_id]
                debit, credit = debit or p.debit_account_id, credit or p.credit_account_id
            elif r.pending_id and r.pending_id in in_batch:
                q = in_batch[r.pending_id]
                debit, credit = debit or q.debit_account_id, credit or q.credit_account_id
            for acct_id, side_flag in ((debit, DEBITS_MUST_NOT_EXCEED_CREDITS), (credit, 0)):
                if acct_id is None or acct_id not in b.accounts:
                    continue
                touched.add(acct_id)
                info = b.accounts[acct_id]
                worsens = r.kind in (KIND_POSTED, KIND_PENDING)
                if (
                    worsens
                    and info.flags
                    and (
                        (side_flag and info.flags == DEBITS_MUST_NOT_EXCEED_CREDITS)
                        or (not side_flag and info.flags == CREDITS_MUST_NOT_EXCEED_DEBITS)
                    )
                ):
                    constrained.add(acct_id)
        # Every account's changes go to one slot per batch; constrained accounts use slot 0.
        b.slot_of = {
            a: 0 if a in constrained else self._rng.randrange(b.accounts[a].slots) for a in touched
        }
        others = [(a, b.slot_of[a]) for a in sorted(touched - constrained)]
        rows = repo.constrained_slot_rows(
            b.session, uow.dialect, b.merchant_id, constrained, others
        )
        for row in rows:
            if row[0] in constrained:
                b.balances.setdefault(row[0], Balance()).add(row[1], row[2], row[3], row[4])

    @staticmethod
    def _insert_transfers(uow: UnitOfWork, rows: list[Transfer]) -> None:
        """Bulk insert: COPY on PostgreSQL for large batches (one statement, so the
        statement-level check trigger runs once), executemany otherwise."""
        repo.insert_transfers(uow.session, uow.dialect, rows)

    def _write_slots(self, uow: UnitOfWork, b: _Batch) -> None:
        params = []
        for acct_id in sorted(b.deltas):
            d = b.deltas[acct_id]
            if d.as_tuple() == (0, 0, 0, 0):
                continue
            params.append(
                {
                    "m": b.merchant_id,
                    "a": acct_id,
                    "s": b.slot_of.get(acct_id, 0),
                    "dp": d.debits_pending,
                    "dpo": d.debits_posted,
                    "cp": d.credits_pending,
                    "cpo": d.credits_posted,
                }
            )
        if not params:
            return
        repo.add_to_slots(uow.session, params)

    def _apply_chain(
        self,
        b: _Batch,
        reqs: Sequence[TransferRequest],
        chain: list[int],
        results: list[TransferResult],
        allow_reserved: bool,
        invalid: dict[int, LedgerError],
    ) -> None:
        journal: list[tuple[str, tuple[int, int, int, int]]] = []
        created: list[Transfer] = []
        resolved: list[str] = []
        failed_at: int | None = None
        error: LedgerError | None = None
        open_chain = reqs[chain[-1]].linked
        for i in chain:
            try:
                if open_chain:
                    raise _err(
                        "linked_event_chain_open",
                        "The last transfer of the batch is linked: a linked chain must end "
                        "with a transfer that is not linked.",
                        "linked",
                    )
                if i in invalid:
                    raise invalid[i]
                tr, replayed = self._apply_one(b, reqs[i], journal, allow_reserved)
            except LedgerError as exc:
                failed_at, error = i, exc
                break
            results[i].transfer = tr
            results[i].replayed = replayed
            if not replayed:
                created.append(tr)
                b.transfers[tr.id] = tr
                if tr.pending_id:
                    b.resolved[tr.pending_id] = tr.kind
                    resolved.append(tr.pending_id)
        if failed_at is None:
            b.new.extend(created)
            return
        # Undo the chain: balances, transfers and resolutions it added.
        for acct_id, (dp, dpo, cp, cpo) in reversed(journal):
            b.deltas[acct_id].add(-dp, -dpo, -cp, -cpo)
            if acct_id in b.balances:
                b.balances[acct_id].add(-dp, -dpo, -cp, -cpo)
        for tr in created:
            b.transfers.pop(tr.id, None)
        for pid in resolved:
            b.resolved.pop(pid, None)
        for i in chain:
            results[i].transfer = None
            results[i].replayed = False
            if i == failed_at:
                results[i].error = error
            else:
                results[i].error = _err(
                    "linked_event_failed",
                    "A transfer linked to this one failed, so none of the chain was applied.",
                )

    def _apply_one(
        self,
        b: _Batch,
        r: TransferRequest,
        journal: list[tuple[str, tuple[int, int, int, int]]],
        allow_reserved: bool,
    ) -> tuple[Transfer, bool]:
        if not allow_reserved and r.id.startswith(RESERVED_PREFIX):
            raise _err(
                "id_reserved",
                f"Transfer ids starting with '{RESERVED_PREFIX}' are reserved for Strongbox.",
                "id",
            )
        pending: Transfer | None = None
        if r.kind in (KIND_POST, KIND_VOID, KIND_EXPIRE):
            if not r.pending_id:
                raise _err(
                    "pending_id_must_not_be_zero",
                    "Posting or voiding needs the id of the pending transfer.",
                    "pending_id",
                )
            if r.pending_id == r.id:
                raise _err(
                    "pending_id_must_be_different",
                    "The pending transfer's id must differ from this transfer's id.",
                    "pending_id",
                )
            pending = b.transfers.get(r.pending_id)
            if pending is None:
                raise _err(
                    "pending_transfer_not_found",
                    f"No such pending transfer: '{r.pending_id}'",
                    "pending_id",
                )
        if r.pending_id and not allow_reserved and r.pending_id.startswith(RESERVED_PREFIX):
            raise _err(
                "pending_id_reserved",
                "Pending transfers of payments are posted and voided by Strongbox itself.",
                "pending_id",
            )
        if r.kind not in (KIND_POST, KIND_VOID, KIND_EXPIRE) and r.pending_id:
            raise _err(
                "pending_id_must_be_zero",
                "Only post_pending and void_pending transfers name a pending transfer.",
                "pending_id",
            )
        want = self._normalize(b, r, pending)
        existing = b.transfers.get(r.id)
        if existing is not None:
            self._same(existing, want)
            return existing, True
        debit = self._account(b, want.debit_account_id, "debit_account")
        credit = self._account(b, want.credit_account_id, "credit_account")
        if debit.id == credit.id:
            raise _err(
                "accounts_must_be_different",
                "The debit and credit accounts must be different.",
                "credit_account",
            )
        if debit.currency != want.currency or credit.currency != want.currency:
            raise _err(
                "currency_must_match",
                "A transfer's accounts must both be in the transfer's currency.",
                "currency",
            )
        if pending is not None:
            self._check_pending(b, r, pending, want)
            pa = pending.amount
            if want.kind == KIND_POST:
                d = (-pa, want.amount, 0, 0)
                c = (0, 0, -pa, want.amount)
            else:
                d = (-pa, 0, 0, 0)
                c = (0, 0, -pa, 0)
        elif want.kind == KIND_PENDING:
            d = (want.amount, 0, 0, 0)
            c = (0, 0, want.amount, 0)
        else:
            d = (0, want.amount, 0, 0)
            c = (0, 0, 0, want.amount)
        self._apply_delta(b, debit, d, journal)
        self._apply_delta(b, credit, c, journal)
        return want, False

    def _normalize(self, b: _Batch, r: TransferRequest, pending: Transfer | None) -> Transfer:
        debit, credit, currency, amount = (
            r.debit_account_id,
            r.credit_account_id,
            r.currency,
            r.amount,
        )
        if pending is not None:
            debit = debit or pending.debit_account_id
            credit = credit or pending.credit_account_id
            currency = currency or pending.currency
            if amount is None:
                amount = pending.amount
        if not debit:
            raise _err(
                "debit_account_id_must_not_be_zero", "Missing debit_account.", "debit_account"
            )
        if not credit:
            raise _err(
                "credit_account_id_must_not_be_zero", "Missing credit_account.", "credit_account"
            )
        if amount is None or amount < 1:
            raise _err(
                "amount_must_not_be_zero", "The amount must be a positive integer.", "amount"
            )
        if not currency:
            acct = b.accounts.get(debit)
            currency = acct.currency if acct else ""
        if r.timeout is not None and r.kind != KIND_PENDING:
            raise _err(
                "timeout_reserved_for_pending_transfer",
                "Only pending transfers can have a timeout.",
                "timeout",
            )
        timeout_at = b.now + timedelta(seconds=r.timeout) if r.timeout else None
        return Transfer(
            id=r.id,
            txn_id=b.txn_id(),
            merchant_id=b.merchant_id,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            currency=currency.lower(),
            kind=r.kind,
            pending_id=r.pending_id,
            timeout_at=timeout_at,
            code=r.code,
            source=r.source,
            linked=r.linked,
            metadata=dict(r.metadata or {}),
            created=b.now,
        )

    @staticmethod
    def _same(existing: Transfer, want: Transfer) -> None:
        """An exact duplicate returns the stored transfer; any difference is an error."""
        fields = [
            ("kind", "flags"),
            ("pending_id", "pending_id"),
            ("debit_account_id", "debit_account"),
            ("credit_account_id", "credit_account"),
            ("amount", "amount"),
            ("currency", "currency"),
            ("code", "code"),
            ("source", "source"),
            ("linked", "linked"),
            ("metadata", "metadata"),
        ]
        for attr, param in fields:
            if getattr(existing, attr) != getattr(want, attr):
                raise _err(
                    f"exists_with_different_{param}",
                    f"A transfer with id '{existing.id}' already exists with a different {param}.",
                    param,
                )
        if (existing.timeout_at is None) != (want.timeout_at is None) or (
            existing.timeout_at is not None
            and want.timeout_at is not None
            and (existing.timeout_at - existing.created) != (want.timeout_at - want.created)
        ):
            raise _err(
                "exists_with_different_timeout",
                f"A transfer with id '{existing.id}' already exists with a different timeout.",
                "timeout",
            )

    @staticmethod
    def _account(b: _Batch, acct_id: str, param: str) -> AccountInfo:
        info = b.accounts.get(acct_id)
        if info is None:
            raise _err(f"{param}_not_found", f"No such ledger account: '{acct_id}'", param)
        return info

    @staticmethod
    def _check_pending(b: _Batch, r: TransferRequest, pending: Transfer, want: Transfer) -> None:
        if pending.kind != KIND_PENDING:
            raise _err(
                "pending_transfer_not_pending",
                f"Transfer '{pending.id}' is not a pending transfer.",
                "pending_id",
            )
        done = b.resolved.get(pending.id)
        if done == KIND_POST:
            raise _err(
                "pending_transfer_already_posted",
                f"Pending transfer '{pending.id}' was already posted.",
                "pending_id",
            )
        if done == KIND_VOID:
            raise _err(
                "pending_transfer_already_voided",
                f"Pending transfer '{pending.id}' was already voided.",
                "pending_id",
            )
        if done == KIND_EXPIRE or (
            r.kind != KIND_EXPIRE and pending.timeout_at is not None and pending.timeout_at <= b.now
        ):
            raise _err(
                "pending_transfer_expired",
                f"Pending transfer '{pending.id}' has expired.",
                "pending_id",
            )
        if want.debit_account_id != pending.debit_account_id:
            raise _err(
                "pending_transfer_has_different_debit_account_id",
                "The debit account differs from the pending transfer's.",
                "debit_account",
            )
        if want.credit_account_id != pending.credit_account_id:
            raise _err(
                "pending_transfer_has_different_credit_account_id",
                "The credit account differs from the pending transfer's.",
                "credit_account",
            )
        if want.currency != pending.currency:
            raise _err(
                "pending_transfer_has_different_currency",
                "The currency differs from the pending transfer's.",
                "currency",
            )
        if want.amount > pending.amount:
            raise _err(
                "exceeds_pending_transfer_amount",
                f"The amount ({want.amount}) exceeds the pending amount ({pending.amount}).",
                "amount",
            )
        if want.kind != KIND_POST and want.amount != pending.amount:
            raise _err(
                "pending_transfer_has_different_amount",
                "A void releases the whole pending amount; omit amount or give it in full.",
                "amount",
            )

    @staticmethod
    def _apply_delta(
        b: _Batch,
        acct: AccountInfo,
        delta: tuple[int, int, int, int],
        journal: list[tuple[str, tuple[int, int, int, int]]],
    ) -> None:
        bal = b.balances.get(acct.id)
        if bal is not None:
            dp, dpo, cp, cpo = (x + y for x, y in zip(bal.as_tuple(), delta, strict=True))
            if acct.flags == DEBITS_MUST_NOT_EXCEED_CREDITS and dp + dpo > cpo:
                raise _err(
                    "exceeds_credits",
                    f"The transfer would take account '{acct.id}' past its credits "
                    "(debits_must_not_exceed_credits).",
                    "amount",
                )
            if acct.flags == CREDITS_MUST_NOT_EXCEED_DEBITS and cp + cpo > dpo:
                raise _err(
                    "exceeds_debits",
                    f"The transfer would take account '{acct.id}' past its debits "
                    "(credits_must_not_exceed_debits).",
                    "amount",
                )
            bal.add(*delta)
        b.deltas.setdefault(acct.id, Balance()).add(*delta)
        journal.append((acct.id, delta))

    def create_transfers_retrying(
        self,
        uow: UnitOfWork,
        merchant_id: str,
        reqs: Sequence[TransferRequest],
        *,
        invalid: dict[int, LedgerError] | None = None,
        attempts: int = 3,
    ) -> list[TransferResult]:
        """``create_transfers`` in a savepoint, re-run when a concurrent writer got there
        first (same id, same pending transfer: unique violation), a deadlock was broken, or
        the database's balance trigger refused: the re-run sees the committed rows and
        answers with a replay or a proper error."""
        for attempt in range(attempts):
            try:
                with uow.session.begin_nested():
                    return self.create_transfers(uow, merchant_id, reqs, invalid=invalid)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                retry = isinstance(exc, IntegrityError) or code in ("40P01", "40001")
                if not retry or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

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
                    id=f"{RESERVED_PREFIX}expire.{pid}"[:128],
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
    "MAX_BATCH",
    "AccountInfo",
    "Balance",
    "LedgerService",
    "Transfer",
    "TransferRequest",
    "TransferResult",
]
