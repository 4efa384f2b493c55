"""``strongbox ledger verify``: recompute the ledger from its transfers and check it, both ways.

Checks, over every merchant:

1. every account's balance slots add up to what its transfers say (posted and pending, debits
   and credits), recomputed with SQL aggregates straight from ``ledger_transfers``;
2. debits equal credits per currency, posted and pending;
3. every transfer's accounts exist, belong to its merchant and have its currency; every post,
   void or expiry matches its pending transfer;
4. accounts with a balance flag are within it;
5. the limits: every amount at most ``MAX_AMOUNT``, every account's pending + posted debits
   (and credits) within its limit, every stored number an integer. Sums are exact whatever
   is stored (``verify_repository``), so no stored value stops the check;
6. payments against postings (the payments' facts come from the edge): each payment's
   status, ``amount_received`` and ``amount_capturable`` are what its transfers say (a
   capture for ``amount_received`` exactly when it succeeded, an open authorization for
   ``amount_capturable`` exactly when it requires capture, a void when it was canceled after
   an authorization, nothing of the rules' when it moved no money), and each refund's status
   (its hold, then its post when succeeded or its void when failed);
7. postings against payments: every transfer with a reserved id or on an account the posting
   rules own is one of those rules' transfers (a step a rule writes, between the accounts
   that rule uses, with the object as its source) of a payment or refund that exists; (6)
   then tells whether that object's state expects it. Transfers between a merchant's own
   accounts need no payment.

Problems are returned as values, each naming its account, transfer, payment or refund; the
CLI prints them and exits non-zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy.orm import Session

from strongbox.ledger import repository as repo
from strongbox.ledger import verify_repository as vrepo
from strongbox.ledger.adjustments import ADJUSTMENT_PAIRS
from strongbox.ledger.conversion import (
    conversion_id,
    refund_conversion_id,
    refund_conversion_post_id,
    refund_conversion_void_id,
)
from strongbox.ledger.handlers import (
    authorization_id,
    capture_id,
    fee_id,
    refund_id,
    refund_post_id,
    refund_void_id,
    void_id,
)
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    FEES,
    FX,
    GATEWAY_RECEIVABLE,
    KIND_EXPIRE,
    KIND_PENDING,
    KIND_POST,
    KIND_POSTED,
    KIND_VOID,
    MERCHANT_AVAILABLE,
    MERCHANT_PENDING,
    PAYOUTS,
    REFUNDS,
    SYSTEM_PURPOSES,
)
from strongbox.ledger.transfers import (
    EXPIRY_PREFIX,
    MAX_AMOUNT,
    RESERVED_PREFIX,
    Transfer,
    balance_limit,
)


def _step(rule_id: Callable[[str], str]) -> str:
    return rule_id("o").removeprefix(f"{RESERVED_PREFIX}o.")


_SALE = frozenset({(GATEWAY_RECEIVABLE, MERCHANT_PENDING), (GATEWAY_RECEIVABLE, FX)})
_REFUND_HOLD = frozenset({(MERCHANT_PENDING, REFUNDS), (FX, REFUNDS)})
_REFUND_FX = frozenset({(MERCHANT_PENDING, FX)})
#: The posting rules' transfers: object id prefix -> step -> the (debit, credit) purposes it
#: may move. A payment that settles in another currency goes through ``fx`` (conversion.py).
RULE_STEPS: Final = {
    "pi_": {
        _step(authorization_id): _SALE,
        _step(capture_id): _SALE,
        _step(void_id): _SALE,
        _step(fee_id): frozenset({(MERCHANT_PENDING, FEES)}),
        _step(conversion_id): frozenset({(FX, MERCHANT_PENDING)}),
    },
    "re_": {
        _step(refund_id): _REFUND_HOLD,
        _step(refund_post_id): _REFUND_HOLD,
        _step(refund_void_id): _REFUND_HOLD,
        _step(refund_conversion_id): _REFUND_FX,
        _step(refund_conversion_post_id): _REFUND_FX,
        _step(refund_conversion_void_id): _REFUND_FX,
    },
}
#: Statuses in which a payment may have an authorization (open or resolved).
AUTHORIZED_STATES: Final = frozenset({"requires_capture", "succeeded", "canceled"})


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
        for acct, kind, total in vrepo.transfer_totals(session, debit=debit):
            s = out[acct]
            if kind == KIND_PENDING:
                s[offset] += total
            elif kind in (KIND_POSTED, KIND_POST):
                s[offset + 1] += total
            elif kind in (KIND_VOID, KIND_EXPIRE):
                s[offset] -= total
        # A post also releases its pending transfer's whole amount.
        for acct, total in vrepo.post_releases(session, debit=debit):
            out[acct][offset] -= total
    return out


def verify_ledger(session: Session, report: Report | None = None) -> Report:
    rep = report or Report()
    problems = rep.problems
    recomputed = _recompute(session)
    accounts = {a.id: a for a in vrepo.all_accounts(session)}
    rep.accounts = len(accounts)
    rep.transfers = vrepo.count_transfers(session)
    stored: dict[str, Sums] = defaultdict(lambda: [0, 0, 0, 0])
    for acct, dp, dpo, cp, cpo in vrepo.slot_totals(session):
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
        limit = balance_limit(accounts[acct].slots)
        for origin, (dp, dpo, cp, cpo) in (("transfers", want), ("balance slots", have)):
            if flags == DEBITS_MUST_NOT_EXCEED_CREDITS and dp + dpo > cpo:
                problems.append(Problem("flags", acct, f"debits exceed credits ({origin})"))
            if flags == CREDITS_MUST_NOT_EXCEED_DEBITS and cp + cpo > dpo:
                problems.append(Problem("flags", acct, f"credits exceed debits ({origin})"))
            for side, total in (("debits", dp + dpo), ("credits", cp + cpo)):
                if total > limit:
                    problems.append(
                        Problem(
                            "limits",
                            acct,
                            f"pending + posted {side} are {total}, above the limit of "
                            f"{limit} ({origin})",
                        )
                    )
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
    # Every transfer's accounts, currency, pending transfer and amount; every stored number.
    for tid, merchant in vrepo.invalid_transfers(session):
        problems.append(
            Problem("transfers", f"{merchant}/{tid}", "accounts, currency or amount invalid")
        )
    for tid, merchant in vrepo.mismatched_resolutions(session):
        problems.append(
            Problem("transfers", f"{merchant}/{tid}", "does not match its pending transfer")
        )
    for merchant, tid, amount in vrepo.amounts_above(session, MAX_AMOUNT):
        problems.append(
            Problem(
                "limits",
                f"{merchant}/{tid}",
                f"amount {amount} is above the maximum of {MAX_AMOUNT}",
            )
        )
    for where, column, value in vrepo.non_integers(session):
        problems.append(
            Problem("integers", where, f"{column} is stored as {value}, not as an integer")
        )
    return rep


class _Postings:
    """Check (6): one batch of payments at a time, against their rules' transfers."""

    def __init__(self, session: Session, rep: Report) -> None:
        self.session = session
        self.rep = rep
        self.seen: set[tuple[str, str]] = set()  # (merchant, payment or refund id)

    def check(self, facts: list[PaymentFacts]) -> None:
        ids: dict[str, list[str]] = defaultdict(list)
        for pf in facts:
            ids[pf.merchant_id] += [
                fn(pf.id) for fn in (authorization_id, capture_id, fee_id, void_id, conversion_id)
            ]
            for rf in pf.refunds:
                ids[pf.merchant_id] += [
                    fn(rf.id) for fn in (refund_id, refund_post_id, refund_void_id)
                ]
        found: dict[tuple[str, str], Transfer] = {}
        for merchant_id, tids in ids.items():
            for row in repo.transfer_rows(self.session, merchant_id, tids):
                tr = Transfer.from_row(row)
                found[(merchant_id, tr.id)] = tr
        for pf in facts:
            self.rep.payments += 1
            self.seen.add((pf.merchant_id, pf.id))
            self._payment(pf, found)
            for rf in pf.refunds:
                self.seen.add((pf.merchant_id, rf.id))
                self._refund(pf.merchant_id, rf, found)

    def _problem(self, subject: str, message: str) -> None:
        self.rep.problems.append(Problem("postings", subject, message))

    def _payment(self, pf: PaymentFacts, found: dict[tuple[str, str], Transfer]) -> None:
        sub, st = f"{pf.merchant_id}/{pf.id}", pf.status
        auth_id, cap_id = authorization_id(pf.id), capture_id(pf.id)
        auth, cap, fee, void = (
            found.get((pf.merchant_id, tid))
            for tid in (auth_id, cap_id, fee_id(pf.id), void_id(pf.id))
        )
        allowed = (st in AUTHORIZED_STATES, st == "succeeded", st == "succeeded", st == "canceled")
        for tr, ok in zip((auth, cap, fee, void), allowed, strict=True):
            if tr is not None and not ok:
                self._problem(sub, f"{tr.id} exists but the payment is {st}")
        if pf.amount_received and st != "succeeded":
            self._problem(sub, f"amount_received is {pf.amount_received} but the payment is {st}")
        if st == "succeeded":
            if cap is None:
                self._problem(
                    sub,
                    f"the payment succeeded (amount_received {pf.amount_received}) but has "
                    f"no capture transfer {cap_id}",
                )
            elif cap.amount != pf.amount_received:
                self._problem(
                    sub, f"{cap.id} is {cap.amount}, amount_received is {pf.amount_received}"
                )
            if cap is not None and auth is not None and cap.pending_id != auth.id:
                self._problem(sub, f"{cap.id} does not post the authorization {auth.id}")
            if cap is not None and auth is None and cap.kind != KIND_POSTED:
                self._problem(sub, f"{cap.id} posts an authorization the ledger does not have")
            if (
                fee is not None
                and cap is not None
                and fee.currency == cap.currency
                and fee.amount > cap.amount
            ):
                self._problem(sub, f"{fee.id} ({fee.amount}) is more than the capture")
        conv = found.get((pf.merchant_id, conversion_id(pf.id)))
        if conv is not None:
            self._conversion(sub, st, cap, conv)
        if st == "requires_capture":
            if auth is None:
                self._problem(
                    sub,
                    f"the payment requires_capture (amount_capturable {pf.amount_capturable}) "
                    f"but has no authorization transfer {auth_id}",
                )
            elif auth.amount != pf.amount_capturable:
                self._problem(
                    sub,
                    f"{auth.id} holds {auth.amount}, amount_capturable is {pf.amount_capturable}",
                )
        resolved = auth is not None and any(
            t is not None and t.pending_id == auth.id for t in (cap, void)
        )
        if st in ("succeeded", "canceled") and auth is not None and not resolved:
            self._problem(sub, f"{auth.id} is still open but the payment is {st}")

    def _conversion(self, sub: str, st: str, cap: Transfer | None, conv: Transfer) -> None:
        """A converted payment's conversion leg: only once it succeeded, for its capture."""
        if st != "succeeded" or cap is None:
            self._problem(sub, f"{conv.id} exists but the payment is {st} with no capture")
            return
        presented = (conv.metadata or {}).get("presentment_amount")
        if presented != cap.amount:
            self._problem(sub, f"{conv.id} converts {presented}, the capture is {cap.amount}")

    def _refund(
        self, merchant_id: str, rf: RefundFacts, found: dict[tuple[str, str], Transfer]
    ) -> None:
        sub, st = f"{merchant_id}/{rf.id}", rf.status
        hold, post, void = (
            found.get((merchant_id, tid))
            for tid in (refund_id(rf.id), refund_post_id(rf.id), refund_void_id(rf.id))
        )
        if hold is None:
            self._problem(sub, f"the refund is {st} but has no hold {refund_id(rf.id)}")
        elif hold.amount != rf.amount:
            self._problem(sub, f"{hold.id} holds {hold.amount}, the refund is for {rf.amount}")
        for tr, ok in ((post, st == "succeeded"), (void, st == "failed")):
            if tr is not None and not ok:
                self._problem(sub, f"{tr.id} exists but the refund is {st}")
        if st == "succeeded" and (post is None or post.amount != rf.amount):
            self._problem(sub, f"the refund succeeded but {refund_post_id(rf.id)} does not post it")
        if st == "failed" and void is None:
            self._problem(sub, f"the refund failed but {refund_void_id(rf.id)} does not void it")

    def against_payments(self) -> None:
        """Check (7): every transfer a posting rule may have written, against the objects."""
        for merchant, tid, source, _kind, debit, credit in vrepo.rule_transfers(
            self.session, RESERVED_PREFIX
        ):
            system = [p for p in (debit, credit) if p in SYSTEM_PURPOSES]
            if not tid.startswith(RESERVED_PREFIX) or tid.startswith(EXPIRY_PREFIX):
                if system:
                    self._problem(
                        f"{merchant}/{tid}",
                        f"{tid} moves money on the {system[0]} account ({debit} -> {credit}) "
                        "but no posting rule wrote it",
                    )
                continue
            obj, _, step = tid.removeprefix(RESERVED_PREFIX).partition(".")
            if obj.startswith("rcx_") and step == "resolution":
                # A reconciliation adjustment (ledger/adjustments.py): either direction.
                if (debit, credit) not in ADJUSTMENT_PAIRS:
                    self._problem(
                        f"{merchant}/{obj}",
                        f"{tid} moves {debit} -> {credit}, which no adjustment does",
                    )
                continue
            settlement = SETTLEMENT_STEPS.get(obj.partition("_")[0], {}).get(step)
            if settlement is not None:
                # Settlement (issue 19): a closed window's net, a payout and its end.
                if (debit, credit) != settlement:
                    self._problem(
                        f"{merchant}/{obj}",
                        f"{tid} moves {debit} -> {credit}; settlement moves "
                        f"{settlement[0]} -> {settlement[1]}",
                    )
                continue
            expected = RULE_STEPS.get(obj[:3], {}).get(step)
            sub = f"{merchant}/{obj}"
            if expected is None:
                self._problem(sub, f"{tid}: no posting rule writes a transfer with this id")
                continue
            if (debit, credit) not in expected:
                moves = " or ".join(f"{d} -> {c}" for d, c in sorted(expected))
                self._problem(sub, f"{tid} moves {debit} -> {credit}; its rule moves {moves}")
            if source != obj:
                self._problem(sub, f"{tid} names {source} as its source, not {obj}")
            if (merchant, obj) not in self.seen:
                self._problem(sub, f"{tid} is for {obj}, which does not exist")


#: The settlement's transfers (``settlement/``): ``sb.stw_….settle`` moves a closed window's
#: net to the available balance; ``sb.po_….payout`` holds a payout's amount, posted when
#: the payout is paid (``.paid``) and voided when it fails or is canceled (``.void``).
SETTLEMENT_STEPS: dict[str, dict[str, tuple[str, str]]] = {
    "stw": {"settle": (MERCHANT_PENDING, MERCHANT_AVAILABLE)},
    "po": dict.fromkeys(("payout", "paid", "void"), (MERCHANT_AVAILABLE, PAYOUTS)),
}


def verify_postings(
    session: Session, payments: Iterable[PaymentFacts], report: Report | None = None
) -> Report:
    """Checks (6) and (7): payments against their postings, and postings against payments."""
    rep = report or Report()
    check = _Postings(session, rep)
    batch: list[PaymentFacts] = []
    for pf in payments:
        batch.append(pf)
        if len(batch) >= 500:
            check.check(batch)
            batch = []
    if batch:
        check.check(batch)
    check.against_payments()
    return rep
