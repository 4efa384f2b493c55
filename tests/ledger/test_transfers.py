"""The transfer engine's rules, at the service level, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

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
from strongbox.ledger.service import MAX_BATCH
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant


@pytest.fixture
def accts(runtime: Runtime, merchant: Merchant) -> tuple[str, str, str]:
    m = merchant.id
    return (
        account(runtime, m, "cash"),
        account(runtime, m, "sales"),
        account(runtime, m, "wallet", flags=DEBITS_MUST_NOT_EXCEED_CREDITS),
    )


def test_posted_transfer_moves_posted_balances(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    (res,) = post(
        runtime,
        merchant.id,
        T(id="t1", debit_account_id=cash, credit_account_id=sales, amount=700, currency="usd"),
    )
    assert res.ok
    assert not res.replayed
    assert res.transfer is not None
    assert res.transfer.amount == 700
    assert balance(runtime, merchant.id, cash).as_tuple() == (0, 700, 0, 0)
    assert balance(runtime, merchant.id, sales).as_tuple() == (0, 0, 0, 700)


def test_exact_duplicate_returns_the_same_transfer_and_changes_nothing(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    req = T(id="dup", debit_account_id=cash, credit_account_id=sales, amount=5, currency="usd")
    (first,) = post(runtime, merchant.id, req)
    (again,) = post(runtime, merchant.id, req)
    assert again.ok
    assert again.replayed
    assert again.transfer is not None
    assert first.transfer is not None
    assert again.transfer.txn_id == first.transfer.txn_id
    assert balance(runtime, merchant.id, cash).debits_posted == 5


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 6}, "exists_with_different_amount"),
        ({"code": "other"}, "exists_with_different_code"),
        ({"kind": KIND_PENDING}, "exists_with_different_flags"),
    ],
)
def test_same_id_with_different_fields_is_an_error(
    runtime: Runtime,
    merchant: Merchant,
    accts: tuple[str, str, str],
    change: dict[str, object],
    code: str,
) -> None:
    cash, sales, _ = accts
    post(
        runtime,
        merchant.id,
        T(id="x", debit_account_id=cash, credit_account_id=sales, amount=5, currency="usd"),
    )
    fields: dict[str, object] = {
        "id": "x",
        "debit_account_id": cash,
        "credit_account_id": sales,
        "amount": 5,
        "currency": "usd",
        **change,
    }
    (res,) = post(runtime, merchant.id, T(**fields))  # type: ignore[arg-type]
    assert codes([res]) == [code]
    assert balance(runtime, merchant.id, cash).debits_posted == 5


def test_swapped_accounts_are_a_different_transfer(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    post(
        runtime,
        merchant.id,
        T(id="y", debit_account_id=cash, credit_account_id=sales, amount=5, currency="usd"),
    )
    (res,) = post(
        runtime,
        merchant.id,
        T(id="y", debit_account_id=sales, credit_account_id=cash, amount=5, currency="usd"),
    )
    assert codes([res]) == ["exists_with_different_debit_account"]


def test_pending_then_partial_post_releases_the_rest(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    m = merchant.id
    post(
        runtime,
        m,
        T(
            id="p",
            kind=KIND_PENDING,
            debit_account_id=cash,
            credit_account_id=sales,
            amount=1000,
            currency="usd",
        ),
    )
    assert balance(runtime, m, cash).as_tuple() == (1000, 0, 0, 0)
    (res,) = post(runtime, m, T(id="p.post", kind=KIND_POST, pending_id="p", amount=600))
    assert res.ok, res.error
    assert res.transfer is not None
    assert res.transfer.debit_account_id == cash
    assert balance(runtime, m, cash).as_tuple() == (0, 600, 0, 0)
    assert balance(runtime, m, sales).as_tuple() == (0, 0, 0, 600)
    (again,) = post(runtime, m, T(id="p.again", kind=KIND_VOID, pending_id="p"))
    assert codes([again]) == ["pending_transfer_already_posted"]


def test_post_more_than_pending_and_void_twice_are_refused(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    m = merchant.id
    post(
        runtime,
        m,
        T(
            id="p",
            kind=KIND_PENDING,
            debit_account_id=cash,
            credit_account_id=sales,
            amount=100,
            currency="usd",
        ),
    )
    (too_much,) = post(runtime, m, T(id="p.post", kind=KIND_POST, pending_id="p", amount=101))
    assert codes([too_much]) == ["exceeds_pending_transfer_amount"]
    (void,) = post(runtime, m, T(id="p.void", kind=KIND_VOID, pending_id="p"))
    assert void.ok
    (again,) = post(runtime, m, T(id="p.void2", kind=KIND_VOID, pending_id="p"))
    assert codes([again]) == ["pending_transfer_already_voided"]
    (missing,) = post(runtime, m, T(id="q.void", kind=KIND_VOID, pending_id="nope"))
    assert codes([missing]) == ["pending_transfer_not_found"]
    (not_pending,) = post(runtime, m, T(id="q2.void", kind=KIND_VOID, pending_id="p.void"))
    assert codes([not_pending]) == ["pending_transfer_not_pending"]
    assert balance(runtime, m, cash).as_tuple() == (0, 0, 0, 0)


def test_pending_transfers_expire(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    m = merchant.id
    clock = FrozenClock()
    runtime.db.clock = clock
    post(
        runtime,
        m,
        T(
            id="hold",
            kind=KIND_PENDING,
            debit_account_id=cash,
            credit_account_id=sales,
            amount=50,
            currency="usd",
            timeout=60,
        ),
    )
    with runtime.db.unit_of_work() as uow:
        assert runtime.ledger.expire_due(uow) == 0
        uow.commit()
    clock.advance(timedelta(seconds=61))
    (late,) = post(runtime, m, T(id="hold.post", kind=KIND_POST, pending_id="hold"))
    assert codes([late]) == ["pending_transfer_expired"]
    with runtime.db.unit_of_work() as uow:
        assert runtime.ledger.expire_due(uow) == 1
        uow.commit()
    assert balance(runtime, m, cash).as_tuple() == (0, 0, 0, 0)
    (after,) = post(runtime, m, T(id="hold.void", kind=KIND_VOID, pending_id="hold"))
    assert codes([after]) == ["pending_transfer_expired"]


def test_debits_must_not_exceed_credits(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, _, wallet = accts
    m = merchant.id
    post(
        runtime,
        m,
        T(id="fund", debit_account_id=cash, credit_account_id=wallet, amount=100, currency="usd"),
    )
    (hold,) = post(
        runtime,
        m,
        T(
            id="h",
            kind=KIND_PENDING,
            debit_account_id=wallet,
            credit_account_id=cash,
            amount=60,
            currency="usd",
        ),
    )
    assert hold.ok
    # 60 pending + 41 > 100 credits: refused, pending debits count.
    (over,) = post(
        runtime,
        m,
        T(id="o", debit_account_id=wallet, credit_account_id=cash, amount=41, currency="usd"),
    )
    assert codes([over]) == ["exceeds_credits"]
    (fits,) = post(
        runtime,
        m,
        T(id="f", debit_account_id=wallet, credit_account_id=cash, amount=40, currency="usd"),
    )
    assert fits.ok
    assert balance(runtime, m, wallet).as_tuple() == (60, 40, 0, 100)


def test_credits_must_not_exceed_debits(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, _, _ = accts
    m = merchant.id
    loan = account(runtime, m, "loan", flags=CREDITS_MUST_NOT_EXCEED_DEBITS)
    (res,) = post(
        runtime,
        m,
        T(id="c", debit_account_id=cash, credit_account_id=loan, amount=1, currency="usd"),
    )
    assert codes([res]) == ["exceeds_debits"]


def test_linked_chain_fails_together_and_other_chains_apply(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, wallet = accts
    m = merchant.id
    results = post(
        runtime,
        m,
        T(
            id="a1",
            debit_account_id=cash,
            credit_account_id=wallet,
            amount=10,
            currency="usd",
            linked=True,
        ),
        T(id="a2", debit_account_id=wallet, credit_account_id=sales, amount=11, currency="usd"),
        T(id="b1", debit_account_id=cash, credit_account_id=sales, amount=3, currency="usd"),
        T(
            id="c1",
            debit_account_id=cash,
            credit_account_id=wallet,
            amount=10,
            currency="usd",
            linked=True,
        ),
        T(id="c2", debit_account_id=wallet, credit_account_id=sales, amount=10, currency="usd"),
    )
    assert codes(results) == ["linked_event_failed", "exceeds_credits", None, None, None]
    assert balance(runtime, m, wallet).as_tuple() == (0, 10, 0, 10)
    assert balance(runtime, m, cash).debits_posted == 13
    with runtime.db.read() as session:
        assert set(runtime.ledger.find_transfers(session, m, ["a1", "a2", "b1", "c1", "c2"])) == {
            "b1",
            "c1",
            "c2",
        }


def test_open_chain_fails(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    results = post(
        runtime,
        merchant.id,
        T(
            id="o1",
            debit_account_id=cash,
            credit_account_id=sales,
            amount=1,
            currency="usd",
            linked=True,
        ),
    )
    assert codes(results) == ["linked_event_chain_open"]


def test_duplicate_inside_one_batch_is_a_replay(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    req = T(id="same", debit_account_id=cash, credit_account_id=sales, amount=9, currency="usd")
    first, second = post(runtime, merchant.id, req, req)
    assert first.ok
    assert not first.replayed
    assert second.ok
    assert second.replayed
    assert balance(runtime, merchant.id, cash).debits_posted == 9


def test_pending_and_post_in_one_batch(
    runtime: Runtime, merchant: Merchant, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    results = post(
        runtime,
        merchant.id,
        T(
            id="pp",
            kind=KIND_PENDING,
            debit_account_id=cash,
            credit_account_id=sales,
            amount=9,
            currency="usd",
        ),
        T(id="pp.post", kind=KIND_POST, pending_id="pp", amount=4),
    )
    assert codes(results) == [None, None]
    assert balance(runtime, merchant.id, cash).as_tuple() == (0, 4, 0, 0)


def test_rules_on_accounts_and_ids(
    runtime: Runtime, merchant: Merchant, new_merchant: object, accts: tuple[str, str, str]
) -> None:
    cash, sales, _ = accts
    m = merchant.id
    eur = account(runtime, m, "euros", currency="eur")
    other = new_merchant("Other")  # type: ignore[operator]
    theirs = account(runtime, other.id, "cash")
    results = post(
        runtime,
        m,
        T(id="r1", debit_account_id=cash, credit_account_id=cash, amount=1, currency="usd"),
        T(id="r2", debit_account_id=cash, credit_account_id=eur, amount=1, currency="usd"),
        T(id="r3", debit_account_id=cash, credit_account_id=theirs, amount=1, currency="usd"),
        T(id="sb.mine", debit_account_id=cash, credit_account_id=sales, amount=1, currency="usd"),
        T(
            id="r5",
            debit_account_id=cash,
            credit_account_id=sales,
            amount=1,
            currency="usd",
            timeout=5,
        ),
    )
    assert codes(results) == [
        "accounts_must_be_different",
        "currency_must_match",
        "credit_account_not_found",
        "id_reserved",
        "timeout_reserved_for_pending_transfer",
    ]
    assert balance(runtime, m, cash).as_tuple() == (0, 0, 0, 0)
    assert balance(runtime, other.id, theirs).as_tuple() == (0, 0, 0, 0)


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
