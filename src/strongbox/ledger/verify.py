"""``strongbox ledger verify``: recompute the ledger from its transfers and check it.

Checks, over every merchant:

1. every account's balance slots add up to what its transfers say (posted and pending, debits
   and credits), recomputed with SQL aggregates straight from ``ledger_transfers``;
2. debits equal credits per currency, posted and pending;
3. every transfer's accounts exist, belong to its merchant and have its currency; every post,
   void or expiry matches its pending transfer;
4. accounts with a balance flag are within it;
5. (given the payments' facts, by the edge) every captured payment has its capture transfer
   for ``amount_received``, every open authorization its pending transfer, every canceled
   authorization its void, every refund its pending transfer and then its post or void.

Problems are returned as values; the CLI prints them and exits non-zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from strongbox.ledger import repository as repo
from strongbox.ledger.handlers import (
    authorization_id,
    capture_id,
    refund_id,
    refund_post_id,
    refund_void_id,
    void_id,
)
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    KIND_EXPIRE,
    KIND_PENDING,
    KIND_POST,
    KIND_POSTED,
    KIND_VOID,
)
from strongbox.ledger.service import Transfer


@dataclass(frozen=True, slots=True)
class Problem:
    check: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.message}"


@dataclass(frozen=True, slots=True)
class RefundFacts:
    id: str
    status: str  # pending | succeeded | failed
    amount: int


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    merchant_id: str
    id: str
    status: str
    amount_received: int
    amount_capturable: int
    refunds: tuple[RefundFacts, ...] = ()


@dataclass(slots=True)
class Report:
    accounts: int = 0
    transfers: int = 0
    payments: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


Sums = list[int]  # debits_pending, debits_posted, credits_pending, credits_posted


def _recompute(session: Session) -> dict[str, Sums]:
    out: dict[str, Sums] = defaultdict(lambda: [0, 0, 0, 0])
    for debit, offset in ((True, 0), (False, 2)):
        for acct, kind, total in repo.transfer_totals(session, debit=debit):
            s = out[acct]
            if kind == KIND_PENDING:
                s[offset] += total
            elif kind in (KIND_POSTED, KIND_POST):
                s[offset + 1] += total
            elif kind in (KIND_VOID, KIND_EXPIRE):
                s[offset] -= total
        # A post also releases its pending transfer's whole amount.
        for acct, total in repo.post_releases(session, debit=debit):
            out[acct][offset] -= total
    return out


def verify_ledger(session: Session, report: Report | None = None) -> Report:
    rep = report or Report()
    problems = rep.problems
    recomputed = _recompute(session)
    accounts = {a.id: a for a in repo.all_accounts(session)}
    rep.accounts = len(accounts)
    rep.transfers = repo.count_transfers(session)
    stored: dict[str, Sums] = defaultdict(lambda: [0, 0, 0, 0])
    for acct, dp, dpo, cp, cpo in repo.slot_totals(session):
        stored[acct] = [dp, dpo, cp, cpo]
    names = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
    for acct in sorted(set(recomputed) | set(stored) | set(accounts)):
        if acct not in accounts:
            problems.append(Problem("accounts", acct, "transfers or slots name a missing account"))
            continue
        want, have = recomputed.get(acct, [0, 0, 0, 0]), stored.get(acct, [0, 0, 0, 0])
        for name, w, h in zip(names, want, have, strict=True):
            if w != h:
                problems.append(
                    Problem(
                        "balances",
                        acct,
                        f"{name} is {h} in the balance slots but {w} from the transfers",
                    )
                )
        if min(want) < 0:
            problems.append(Problem("balances", acct, "a recomputed total is negative"))
        flags = accounts[acct].flags
        for origin, (dp, dpo, cp, cpo) in (("transfers", want), ("balance slots", have)):
            if flags == DEBITS_MUST_NOT_EXCEED_CREDITS and dp + dpo > cpo:
                problems.append(Problem("flags", acct, f"debits exceed credits ({origin})"))
            if flags == CREDITS_MUST_NOT_EXCEED_DEBITS and cp + cpo > dpo:
                problems.append(Problem("flags", acct, f"credits exceed debits ({origin})"))
    # Debits equal credits, per currency: as the transfers say, and as the slots hold.
    for origin, source in (("transfers", recomputed), ("balance slots", stored)):
        per_currency: dict[str, Sums] = defaultdict(lambda: [0, 0, 0, 0])
        for acct, sums in source.items():
            if acct in accounts:
                cur = per_currency[accounts[acct].currency]
                for i in range(4):
                    cur[i] += sums[i]
        for currency, (dp, dpo, cp, cpo) in sorted(per_currency.items()):
            if dpo != cpo:
                problems.append(
                    Problem(
                        "double_entry",
                        currency,
                        f"posted debits {dpo} != posted credits {cpo} ({origin})",
                    )
                )
            if dp != cp:
                problems.append(
                    Problem(
                        "double_entry",
                        currency,
                        f"pending debits {dp} != pending credits {cp} ({origin})",
                    )
                )
    # Every transfer's accounts, currency and pending transfer.
    for tid, merchant in repo.invalid_transfers(session):
        problems.append(
            Problem("transfers", f"{merchant}/{tid}", "accounts, currency or amount invalid")
        )
    for tid, merchant in repo.mismatched_resolutions(session):
        problems.append(
            Problem("transfers", f"{merchant}/{tid}", "does not match its pending transfer")
        )
    return rep


def verify_postings(
    session: Session, payments: Iterable[PaymentFacts], report: Report | None = None
) -> Report:
    """Every money movement of a payment has its transfers, for the right amounts."""
    rep = report or Report()
    problems = rep.problems
    batch: list[PaymentFacts] = []

    def check(facts: list[PaymentFacts]) -> None:
        ids: dict[str, list[str]] = defaultdict(list)
        for pf in facts:
            ids[pf.merchant_id] += [authorization_id(pf.id), capture_id(pf.id), void_id(pf.id)]
            for rf in pf.refunds:
                ids[pf.merchant_id] += [
                    refund_id(rf.id),
                    refund_post_id(rf.id),
                    refund_void_id(rf.id),
                ]
        found: dict[tuple[str, str], Transfer] = {}
        for merchant_id, tids in ids.items():
            for row in repo.transfer_rows(session, merchant_id, tids):
                tr = Transfer.from_row(row)
                found[(merchant_id, tr.id)] = tr
        for pf in facts:
            rep.payments += 1

            def get(tid: str, pf: PaymentFacts = pf) -> Transfer | None:
                return found.get((pf.merchant_id, tid))

            auth, cap, void = (
                get(authorization_id(pf.id)),
                get(capture_id(pf.id)),
                get(void_id(pf.id)),
            )
            subject = f"{pf.merchant_id}/{pf.id}"
            if pf.amount_received > 0:
                if cap is None:
                    problems.append(
                        Problem("postings", subject, "captured but no capture transfer")
                    )
                elif cap.amount != pf.amount_received:
                    problems.append(
                        Problem(
                            "postings",
                            subject,
                            f"capture transfer is {cap.amount}, amount_received is "
                            f"{pf.amount_received}",
                        )
                    )
            elif cap is not None:
                problems.append(Problem("postings", subject, "capture transfer but not captured"))
            if pf.status == "requires_capture":
                if auth is None or auth.amount != pf.amount_capturable:
                    problems.append(
                        Problem("postings", subject, "authorization without its pending transfer")
                    )
                elif cap is not None or void is not None:
                    problems.append(Problem("postings", subject, "open authorization is resolved"))
            if pf.status == "canceled" and auth is not None and void is None:
                problems.append(
                    Problem("postings", subject, "canceled but authorization not voided")
                )
            for rf in pf.refunds:
                rsub = f"{pf.merchant_id}/{rf.id}"
                pend, post, rvoid = (
                    get(refund_id(rf.id)),
                    get(refund_post_id(rf.id)),
                    get(refund_void_id(rf.id)),
                )
                if pend is None or pend.amount != rf.amount:
                    problems.append(
                        Problem("postings", rsub, "refund without its pending transfer")
                    )
                    continue
                if rf.status == "succeeded" and (post is None or post.amount != rf.amount):
                    problems.append(Problem("postings", rsub, "refund succeeded but not posted"))
                if rf.status == "failed" and rvoid is None:
                    problems.append(Problem("postings", rsub, "refund failed but not voided"))
                if rf.status == "pending" and (post is not None or rvoid is not None):
                    problems.append(Problem("postings", rsub, "pending refund is resolved"))

    for pf in payments:
        batch.append(pf)
        if len(batch) >= 500:
            check(batch)
            batch = []
    if batch:
        check(batch)
    return rep
