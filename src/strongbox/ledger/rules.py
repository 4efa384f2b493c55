"""The rules of one batch, without the database.

A batch is split into linked chains (a run of ``linked`` transfers and the one that closes
it); each chain applies completely or not at all, and every item gets a result (the
transfer, or a Stripe-shaped error named as TigerBeetle names it). ``service.py`` reads what
a batch needs, runs these rules over it, and writes the outcome (``writes.py``).

The posting rules' privilege (``allow_reserved``): ids starting ``sb.`` and the accounts of
``SYSTEM_PURPOSES``. Anyone else naming such an account gets ``debit_account_reserved`` or
``credit_account_reserved`` (HTTP 403): a merchant moves money only between accounts it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from strongbox.core.errors import LedgerError, LedgerPermissionError
from strongbox.core.ids import new_ids
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    KIND_EXPIRE,
    KIND_PENDING,
    KIND_POST,
    KIND_POSTED,
    KIND_VOID,
    SYSTEM_PURPOSES,
)
from strongbox.ledger.transfers import (
    MAX_AMOUNT,
    RESERVED_PREFIX,
    AccountInfo,
    Balance,
    Delta,
    Transfer,
    TransferRequest,
    TransferResult,
    balance_limit,
    err,
    slot_share,
)


@dataclass(slots=True)
class Batch:
    """One batch's view: what the database holds (transfers it names, resolutions, accounts,
    the exact balances of the accounts it read) plus what this batch adds."""

    merchant_id: str
    now: datetime
    size: int = 1
    transfers: dict[str, Transfer] = field(default_factory=dict)  # by client id
    resolved: dict[str, str] = field(default_factory=dict)  # pending id -> resolution kind
    accounts: dict[str, AccountInfo] = field(default_factory=dict)
    balances: dict[str, Balance] = field(default_factory=dict)  # exact sums, where read
    deltas: dict[str, Balance] = field(default_factory=dict)  # this batch's changes
    new: list[Transfer] = field(default_factory=list)
    slot_of: dict[str, int] = field(default_factory=dict)  # the slot each account's changes go to
    _txn_ids: list[str] = field(default_factory=list)

    def txn_id(self) -> str:
        if not self._txn_ids:
            self._txn_ids = new_ids("balance_transaction", self.size)
        return self._txn_ids.pop()


def chains(reqs: Sequence[TransferRequest]) -> list[list[int]]:
    out: list[list[int]] = []
    current: list[int] = []
    for i, r in enumerate(reqs):
        current.append(i)
        if not r.linked:
            out.append(current)
            current = []
    if current:
        out.append(current)  # an open chain: the last transfer is linked
    return out


def touched_accounts(b: Batch, reqs: Sequence[TransferRequest]) -> tuple[set[str], set[str]]:
    """(every account the batch names, the ones whose exact balance a rule needs): a debit of
    a ``debits_must_not_exceed_credits`` account, a credit of the mirror flag."""
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
        for acct_id, flag in (
            (debit, DEBITS_MUST_NOT_EXCEED_CREDITS),
            (credit, CREDITS_MUST_NOT_EXCEED_DEBITS),
        ):
            if acct_id is None or acct_id not in b.accounts:
                continue
            touched.add(acct_id)
            if r.kind in (KIND_POSTED, KIND_PENDING) and b.accounts[acct_id].flags == flag:
                constrained.add(acct_id)
    return touched, constrained


def apply_batch(
    b: Batch,
    reqs: Sequence[TransferRequest],
    *,
    allow_reserved: bool,
    invalid: dict[int, LedgerError],
) -> list[TransferResult]:
    results = [TransferResult(index=i) for i in range(len(reqs))]
    for chain in chains(reqs):
        _apply_chain(b, reqs, chain, results, allow_reserved, invalid)
    return results


def _apply_chain(
    b: Batch,
    reqs: Sequence[TransferRequest],
    chain: list[int],
    results: list[TransferResult],
    allow_reserved: bool,
    invalid: dict[int, LedgerError],
) -> None:
    journal: list[tuple[str, Delta]] = []
    created: list[Transfer] = []
    resolved: list[str] = []
    failed_at: int | None = None
    error: LedgerError | None = None
    open_chain = reqs[chain[-1]].linked
    for i in chain:
        try:
            if open_chain:
                raise err(
                    "linked_event_chain_open",
                    "The last transfer of the batch is linked: a linked chain must end "
                    "with a transfer that is not linked.",
                    "linked",
                )
            if i in invalid:
                raise invalid[i]
            tr, replayed = apply_one(b, reqs[i], journal, allow_reserved)
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
            results[i].error = err(
                "linked_event_failed",
                "A transfer linked to this one failed, so none of the chain was applied.",
            )


def apply_one(
    b: Batch, r: TransferRequest, journal: list[tuple[str, Delta]], allow_reserved: bool
) -> tuple[Transfer, bool]:
    """Check one transfer against the batch's view and apply it to the view: (the transfer,
    ``True`` if it is a replay of a stored one)."""
    if not allow_reserved and r.id.startswith(RESERVED_PREFIX):
        raise err(
            "id_reserved",
            f"Transfer ids starting with '{RESERVED_PREFIX}' are reserved for Strongbox.",
            "id",
        )
    pending: Transfer | None = None
    if r.kind in (KIND_POST, KIND_VOID, KIND_EXPIRE):
        if not r.pending_id:
            raise err(
                "pending_id_must_not_be_zero",
                "Posting or voiding needs the id of the pending transfer.",
                "pending_id",
            )
        if r.pending_id == r.id:
            raise err(
                "pending_id_must_be_different",
                "The pending transfer's id must differ from this transfer's id.",
                "pending_id",
            )
        pending = b.transfers.get(r.pending_id)
        if pending is None:
            raise err(
                "pending_transfer_not_found",
                f"No such pending transfer: '{r.pending_id}'",
                "pending_id",
            )
    if r.pending_id and not allow_reserved and r.pending_id.startswith(RESERVED_PREFIX):
        raise err(
            "pending_id_reserved",
            "Pending transfers of payments are posted and voided by Strongbox itself.",
            "pending_id",
        )
    if r.kind not in (KIND_POST, KIND_VOID, KIND_EXPIRE) and r.pending_id:
        raise err(
            "pending_id_must_be_zero",
            "Only post_pending and void_pending transfers name a pending transfer.",
            "pending_id",
        )
    want = _normalize(b, r, pending)
    if not allow_reserved:
        _check_permission(b, want)
    existing = b.transfers.get(r.id)
    if existing is not None:
        same(existing, want)
        return existing, True
    debit = _account(b, want.debit_account_id, "debit_account")
    credit = _account(b, want.credit_account_id, "credit_account")
    if debit.id == credit.id:
        raise err(
            "accounts_must_be_different",
            "The debit and credit accounts must be different.",
            "credit_account",
        )
    if debit.currency != want.currency or credit.currency != want.currency:
        raise err(
            "currency_must_match",
            "A transfer's accounts must both be in the transfer's currency.",
            "currency",
        )
    d, c = deltas_of(want, pending)
    if pending is not None:
        _check_pending(b, r, pending, want)
    _apply_delta(b, debit, d, journal)
    _apply_delta(b, credit, c, journal)
    return want, False


def deltas_of(t: Transfer, pending: Transfer | None) -> tuple[Delta, Delta]:
    """What ``t`` adds to its debit account's and its credit account's balance fields."""
    if pending is not None:
        pa = pending.amount
        if t.kind == KIND_POST:
            return (-pa, t.amount, 0, 0), (0, 0, -pa, t.amount)
        return (-pa, 0, 0, 0), (0, 0, -pa, 0)
    if t.kind == KIND_PENDING:
        return (t.amount, 0, 0, 0), (0, 0, t.amount, 0)
    return (0, t.amount, 0, 0), (0, 0, 0, t.amount)


def _check_permission(b: Batch, want: Transfer) -> None:
    for acct_id, side in (
        (want.debit_account_id, "debit_account"),
        (want.credit_account_id, "credit_account"),
    ):
        info = b.accounts.get(acct_id)
        if info is not None and info.purpose in SYSTEM_PURPOSES:
            raise LedgerPermissionError(
                f"The account '{acct_id}' is the {info.purpose} account, which only "
                "Strongbox's posting rules write; transfers through the API move money "
                "between accounts you created.",
                code=f"{side}_reserved",
                param=side,
            )


def _normalize(b: Batch, r: TransferRequest, pending: Transfer | None) -> Transfer:
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
        raise err("debit_account_id_must_not_be_zero", "Missing debit_account.", "debit_account")
    if not credit:
        raise err("credit_account_id_must_not_be_zero", "Missing credit_account.", "credit_account")
    if amount is None or amount < 1:
        raise err("amount_must_not_be_zero", "The amount must be a positive integer.", "amount")
    if amount > MAX_AMOUNT:
        raise err(
            "amount_too_large",
            f"The amount must be at most {MAX_AMOUNT} (in the currency's minor unit).",
            "amount",
        )
    if not currency:
        acct = b.accounts.get(debit)
        currency = acct.currency if acct else ""
    if r.timeout is not None and r.kind != KIND_PENDING:
        raise err(
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


def same(existing: Transfer, want: Transfer) -> None:
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
            raise err(
                f"exists_with_different_{param}",
                f"A transfer with id '{existing.id}' already exists with a different {param}.",
                param,
            )
    if (existing.timeout_at is None) != (want.timeout_at is None) or (
        existing.timeout_at is not None
        and want.timeout_at is not None
        and (existing.timeout_at - existing.created) != (want.timeout_at - want.created)
    ):
        raise err(
            "exists_with_different_timeout",
            f"A transfer with id '{existing.id}' already exists with a different timeout.",
            "timeout",
        )


def _account(b: Batch, acct_id: str, param: str) -> AccountInfo:
    info = b.accounts.get(acct_id)
    if info is None:
        raise err(f"{param}_not_found", f"No such ledger account: '{acct_id}'", param)
    return info


def _check_pending(b: Batch, r: TransferRequest, pending: Transfer, want: Transfer) -> None:
    if pending.kind != KIND_PENDING:
        raise err(
            "pending_transfer_not_pending",
            f"Transfer '{pending.id}' is not a pending transfer.",
            "pending_id",
        )
    done = b.resolved.get(pending.id)
    if done == KIND_POST:
        raise err(
            "pending_transfer_already_posted",
            f"Pending transfer '{pending.id}' was already posted.",
            "pending_id",
        )
    if done == KIND_VOID:
        raise err(
            "pending_transfer_already_voided",
            f"Pending transfer '{pending.id}' was already voided.",
            "pending_id",
        )
    if done == KIND_EXPIRE or (
        r.kind != KIND_EXPIRE and pending.timeout_at is not None and pending.timeout_at <= b.now
    ):
        raise err(
            "pending_transfer_expired",
            f"Pending transfer '{pending.id}' has expired.",
            "pending_id",
        )
    if want.debit_account_id != pending.debit_account_id:
        raise err(
            "pending_transfer_has_different_debit_account_id",
            "The debit account differs from the pending transfer's.",
            "debit_account",
        )
    if want.credit_account_id != pending.credit_account_id:
        raise err(
            "pending_transfer_has_different_credit_account_id",
            "The credit account differs from the pending transfer's.",
            "credit_account",
        )
    if want.currency != pending.currency:
        raise err(
            "pending_transfer_has_different_currency",
            "The currency differs from the pending transfer's.",
            "currency",
        )
    if want.amount > pending.amount:
        raise err(
            "exceeds_pending_transfer_amount",
            f"The amount ({want.amount}) exceeds the pending amount ({pending.amount}).",
            "amount",
        )
    if want.kind != KIND_POST and want.amount != pending.amount:
        raise err(
            "pending_transfer_has_different_amount",
            "A void releases the whole pending amount; omit amount or give it in full.",
            "amount",
        )


def check_limits(acct: AccountInfo, before: Delta, delta: Delta) -> None:
    """TigerBeetle's order: the fields' overflows, the sides' overflows, then the flags.
    Only growth is checked: a release never overflows, and the flags hold a limit only against
    more debits (or credits)."""
    limit = balance_limit(acct.slots)
    dp, dpo, cp, cpo = (x + y for x, y in zip(before, delta, strict=True))
    ddp, ddpo, dcp, dcpo = delta
    for grew, value, code in (
        (ddp > 0, dp, "overflows_debits_pending"),
        (dcp > 0, cp, "overflows_credits_pending"),
        (ddpo > 0, dpo, "overflows_debits_posted"),
        (dcpo > 0, cpo, "overflows_credits_posted"),
        (ddp + ddpo > 0, dp + dpo, "overflows_debits"),
        (dcp + dcpo > 0, cp + cpo, "overflows_credits"),
    ):
        if grew and value > limit:
            raise err(
                code,
                f"The transfer would take account '{acct.id}' past the ledger's limit of "
                f"{limit} ({code.removeprefix('overflows_')}).",
                "amount",
            )
    if acct.flags == DEBITS_MUST_NOT_EXCEED_CREDITS and ddp + ddpo > 0 and dp + dpo > cpo:
        raise err(
            "exceeds_credits",
            f"The transfer would take account '{acct.id}' past its credits "
            "(debits_must_not_exceed_credits).",
            "amount",
        )
    if acct.flags == CREDITS_MUST_NOT_EXCEED_DEBITS and dcp + dcpo > 0 and cp + cpo > dpo:
        raise err(
            "exceeds_debits",
            f"The transfer would take account '{acct.id}' past its debits "
            "(credits_must_not_exceed_debits).",
            "amount",
        )


def _apply_delta(
    b: Batch, acct: AccountInfo, delta: Delta, journal: list[tuple[str, Delta]]
) -> None:
    bal = b.balances.get(acct.id)
    if bal is not None:
        check_limits(acct, bal.as_tuple(), delta)
        bal.add(*delta)
    b.deltas.setdefault(acct.id, Balance()).add(*delta)
    journal.append((acct.id, delta))


def pack(totals: Delta, slots: int) -> list[Delta]:
    """An account's balance laid out over its slots so that each holds at most its share
    (pending + posted, per side): fill slot 0, then slot 1... Within ``balance_limit`` it
    always fits."""
    share = slot_share(slots)
    dp, dpo, cp, cpo = totals
    out: list[Delta] = []
    for _ in range(slots):
        a = min(dp, share)
        b_ = min(dpo, share - a)
        c = min(cp, share)
        d = min(cpo, share - c)
        dp, dpo, cp, cpo = dp - a, dpo - b_, cp - c, cpo - d
        out.append((a, b_, c, d))
    if dp or dpo or cp or cpo:  # past the limit: only a ledger already wrong gets here
        a, b_, c, d = out[0]
        out[0] = (a + dp, b_ + dpo, c + cp, d + cpo)
    return out
