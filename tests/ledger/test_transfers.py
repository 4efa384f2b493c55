"""The transfer engine's rules, at the service level, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from ledger.helpers import account, balance, codes, post
from strongbox.core.clock import FrozenClock
from strongbox.core.errors import LedgerError
from strongbox.ledger.models import (
    CREDITS_MUST_NOT_EXCEED_DEBITS,
    DEBITS_MUST_NOT_EXCEED_CREDITS,
    KIND_PENDING,
    KIND_POST,
    KIND_VOID,
)
from strongbox.ledger.service import MAX_BATCH, TransferResult
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant


def move(id_: str, debit: str, credit: str, amount: int, **kw: Any) -> T:
    """A posted transfer in USD (``kind``, ``linked``, ``timeout`` … through ``kw``)."""
    return T(
        id=id_,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency="usd",
        **kw,
    )


def hold(id_: str, debit: str, credit: str, amount: int, **kw: Any) -> T:
    """A pending transfer in USD."""
    return move(id_, debit, credit, amount, kind=KIND_PENDING, **kw)


def settle(id_: str, pending_id: str, amount: int | None = None) -> T:
    """Post a pending transfer (all of it, or ``amount``)."""
    return T(id=id_, kind=KIND_POST, pending_id=pending_id, amount=amount)


def void(id_: str, pending_id: str) -> T:
    return T(id=id_, kind=KIND_VOID, pending_id=pending_id)


@dataclass
class Book:
    """One merchant's ledger with three accounts: cash, sales and a wallet that may not go
    below zero (debits must not exceed credits)."""

    runtime: Runtime
    merchant_id: str
    cash: str
    sales: str
    wallet: str

    def post(self, *reqs: T) -> list[TransferResult]:
        return post(self.runtime, self.merchant_id, *reqs)

    def one(self, req: T) -> TransferResult:
        (res,) = self.post(req)
        return res

    def code(self, req: T) -> str | None:
        return codes([self.one(req)])[0]

    def balance(self, account_id: str) -> tuple[int, int, int, int]:
        """(debits pending, debits posted, credits pending, credits posted)."""
        return balance(self.runtime, self.merchant_id, account_id).as_tuple()

    def debits_posted(self, account_id: str) -> int:
        return balance(self.runtime, self.merchant_id, account_id).debits_posted


@pytest.fixture
def book(runtime: Runtime, merchant: Merchant) -> Book:
    m = merchant.id
    return Book(
        runtime,
        m,
        cash=account(runtime, m, "cash"),
        sales=account(runtime, m, "sales"),
        wallet=account(runtime, m, "wallet", flags=DEBITS_MUST_NOT_EXCEED_CREDITS),
    )


def test_posted_transfer_moves_posted_balances(book: Book) -> None:
    res = book.one(move("t1", book.cash, book.sales, 700))
    assert res.ok
    assert not res.replayed
    assert res.transfer is not None
    assert res.transfer.amount == 700
    assert book.balance(book.cash) == (0, 700, 0, 0)
    assert book.balance(book.sales) == (0, 0, 0, 700)


def test_exact_duplicate_returns_the_same_transfer_and_changes_nothing(book: Book) -> None:
    req = move("dup", book.cash, book.sales, 5)
    first = book.one(req)
    again = book.one(req)
    assert again.ok
    assert again.replayed
    assert again.transfer is not None
    assert first.transfer is not None
    assert again.transfer.txn_id == first.transfer.txn_id
    assert book.debits_posted(book.cash) == 5


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 6}, "exists_with_different_amount"),
        ({"code": "other"}, "exists_with_different_code"),
        ({"kind": KIND_PENDING}, "exists_with_different_flags"),
    ],
)
def test_same_id_with_different_fields_is_an_error(
    book: Book, change: dict[str, object], code: str
) -> None:
    book.post(move("x", book.cash, book.sales, 5))
    fields: dict[str, object] = {
        "id": "x",
        "debit_account_id": book.cash,
        "credit_account_id": book.sales,
        "amount": 5,
        "currency": "usd",
        **change,
    }
    assert book.code(T(**fields)) == code  # type: ignore[arg-type]
    assert book.debits_posted(book.cash) == 5


def test_swapped_accounts_are_a_different_transfer(book: Book) -> None:
    book.post(move("y", book.cash, book.sales, 5))
    assert book.code(move("y", book.sales, book.cash, 5)) == "exists_with_different_debit_account"


def test_pending_then_partial_post_releases_the_rest(book: Book) -> None:
    book.post(hold("p", book.cash, book.sales, 1000))
    assert book.balance(book.cash) == (1000, 0, 0, 0)
    res = book.one(settle("p.post", "p", 600))
    assert res.ok, res.error
    assert res.transfer is not None
    assert res.transfer.debit_account_id == book.cash
    assert book.balance(book.cash) == (0, 600, 0, 0)
    assert book.balance(book.sales) == (0, 0, 0, 600)
    assert book.code(void("p.again", "p")) == "pending_transfer_already_posted"


def test_post_more_than_pending_and_void_twice_are_refused(book: Book) -> None:
    book.post(hold("p", book.cash, book.sales, 100))
    assert book.code(settle("p.post", "p", 101)) == "exceeds_pending_transfer_amount"
    assert book.one(void("p.void", "p")).ok
    assert book.code(void("p.void2", "p")) == "pending_transfer_already_voided"
    assert book.code(void("q.void", "nope")) == "pending_transfer_not_found"
    assert book.code(void("q2.void", "p.void")) == "pending_transfer_not_pending"
    assert book.balance(book.cash) == (0, 0, 0, 0)


def test_pending_transfers_expire(book: Book) -> None:
    rt = book.runtime
    clock = FrozenClock()
    rt.db.clock = clock
    book.post(hold("hold", book.cash, book.sales, 50, timeout=60))
    with rt.db.unit_of_work() as uow:
        assert rt.ledger.expire_due(uow) == 0
        uow.commit()
    clock.advance(timedelta(seconds=61))
    assert book.code(settle("hold.post", "hold")) == "pending_transfer_expired"
    with rt.db.unit_of_work() as uow:
        assert rt.ledger.expire_due(uow) == 1
        uow.commit()
    assert book.balance(book.cash) == (0, 0, 0, 0)
    assert book.code(void("hold.void", "hold")) == "pending_transfer_expired"


def test_debits_must_not_exceed_credits(book: Book) -> None:
    cash, wallet = book.cash, book.wallet
    book.post(move("fund", cash, wallet, 100))
    assert book.one(hold("h", wallet, cash, 60)).ok
    # 60 pending + 41 > 100 credits: refused, pending debits count.
    assert book.code(move("o", wallet, cash, 41)) == "exceeds_credits"
    assert book.one(move("f", wallet, cash, 40)).ok
    assert book.balance(wallet) == (60, 40, 0, 100)


def test_credits_must_not_exceed_debits(book: Book) -> None:
    loan = account(book.runtime, book.merchant_id, "loan", flags=CREDITS_MUST_NOT_EXCEED_DEBITS)
    assert book.code(move("c", book.cash, loan, 1)) == "exceeds_debits"


def test_linked_chain_fails_together_and_other_chains_apply(book: Book) -> None:
    cash, sales, wallet = book.cash, book.sales, book.wallet
    results = book.post(
        move("a1", cash, wallet, 10, linked=True),
        move("a2", wallet, sales, 11),
        move("b1", cash, sales, 3),
        move("c1", cash, wallet, 10, linked=True),
        move("c2", wallet, sales, 10),
    )
    assert codes(results) == ["linked_event_failed", "exceeds_credits", None, None, None]
    assert book.balance(wallet) == (0, 10, 0, 10)
    assert book.debits_posted(cash) == 13
    rt = book.runtime
    with rt.db.read() as session:
        found = rt.ledger.find_transfers(session, book.merchant_id, ["a1", "a2", "b1", "c1", "c2"])
    assert set(found) == {"b1", "c1", "c2"}


def test_open_chain_fails(book: Book) -> None:
    assert book.code(move("o1", book.cash, book.sales, 1, linked=True)) == (
        "linked_event_chain_open"
    )


def test_duplicate_inside_one_batch_is_a_replay(book: Book) -> None:
    req = move("same", book.cash, book.sales, 9)
    first, second = book.post(req, req)
    assert first.ok
    assert not first.replayed
    assert second.ok
    assert second.replayed
    assert book.debits_posted(book.cash) == 9


def test_pending_and_post_in_one_batch(book: Book) -> None:
    results = book.post(hold("pp", book.cash, book.sales, 9), settle("pp.post", "pp", 4))
    assert codes(results) == [None, None]
    assert book.balance(book.cash) == (0, 4, 0, 0)


def test_rules_on_accounts_and_ids(book: Book, new_merchant: Any) -> None:
    cash, sales = book.cash, book.sales
    eur = account(book.runtime, book.merchant_id, "euros", currency="eur")
    other = new_merchant("Other")
    theirs = account(book.runtime, other.id, "cash")
    results = book.post(
        move("r1", cash, cash, 1),
        move("r2", cash, eur, 1),
        move("r3", cash, theirs, 1),
        move("sb.mine", cash, sales, 1),
        move("r5", cash, sales, 1, timeout=5),
    )
    assert codes(results) == [
        "accounts_must_be_different",
        "currency_must_match",
        "credit_account_not_found",
        "id_reserved",
        "timeout_reserved_for_pending_transfer",
    ]
    assert book.balance(cash) == (0, 0, 0, 0)
    assert balance(book.runtime, other.id, theirs).as_tuple() == (0, 0, 0, 0)


def test_batch_size_limit(runtime: Runtime, merchant: Merchant) -> None:
    with runtime.db.unit_of_work() as uow, pytest.raises(LedgerError) as exc:
        runtime.ledger.create_transfers(
            uow, merchant.id, [T(id=f"t{i}") for i in range(MAX_BATCH + 1)]
        )
    assert exc.value.code == "too_many_transfers"


def test_account_with_other_flags_is_refused(runtime: Runtime, merchant: Merchant) -> None:
    account(runtime, merchant.id, "float")
    with runtime.db.unit_of_work() as uow, pytest.raises(LedgerError) as exc:
        runtime.ledger.create_account(
            uow, merchant.id, "float", "usd", DEBITS_MUST_NOT_EXCEED_CREDITS, None
        )
    assert exc.value.code == "account_exists_with_different_flags"
    assert account(runtime, merchant.id, "float") == account(runtime, merchant.id, "float")
