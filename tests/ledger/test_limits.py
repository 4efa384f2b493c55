"""Ledger arithmetic never overflows (issue 23, item 4).

An amount is at most ``MAX_AMOUNT``; a transfer that would take an account's pending plus
posted debits (or credits), or any one of those fields, past the limit fails with its own
error (TigerBeetle's ``overflows_*`` names) and is never stored; balances are always integers;
``ledger verify`` survives any stored value and reports it. On PostgreSQL an account's
balance is spread over 16 slots, each holding at most its share: a full slot makes the batch
go the exact way (every slot locked and read), so the limit is the account's, not a slot's.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.helpers import account, balance, codes, post
from ledger.test_database_invariants import REFUSED, raw
from strongbox.cli.ledger import run_verify
from strongbox.ledger.models import KIND_PENDING, KIND_POST, KIND_VOID
from strongbox.ledger.service import (
    MAX_AMOUNT,
    MAX_BALANCE,
    AccountInfo,
    TransferRequest,
    TransferResult,
    balance_limit,
)
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant, error_of

LIMIT = MAX_BALANCE  # the limit of accounts with 1 (SQLite) or 16 (PostgreSQL) slots


def test_the_limits() -> None:
    assert MAX_AMOUNT == 2**53 - 1
    assert balance_limit(1) == balance_limit(16) == MAX_BALANCE == 2**62
    assert balance_limit(3) <= MAX_BALANCE


def _fill(rt: Runtime, m: str, debit: str, credit: str, total: int, kind: str = "posted") -> None:
    """Move ``total`` from ``debit`` to ``credit`` in one batch of at-most-MAX_AMOUNT pieces."""
    reqs = []
    n = 0
    while total > 0:
        piece = min(total, MAX_AMOUNT)
        reqs.append(
            T(
                id=f"fill-{debit[-6:]}-{credit[-6:]}-{n}",
                kind=kind,
                debit_account_id=debit,
                credit_account_id=credit,
                amount=piece,
                currency="usd",
            )
        )
        total -= piece
        n += 1
    results = post(rt, m, *reqs)
    assert all(r.ok for r in results), [r.error for r in results if r.error][:3]


def test_the_reported_case_is_refused_at_the_api(api: TestClient, runtime: Runtime) -> None:
    """Two transfers of 2^62 into one account: the amount is above the maximum now."""
    a = api.post("/v1/ledger/accounts", data={"purpose": "cash", "currency": "usd"}).json()["id"]
    b = api.post("/v1/ledger/accounts", data={"purpose": "sales", "currency": "usd"}).json()["id"]
    data = {"id": "big0", "debit_account": a, "credit_account": b, "currency": "usd"}
    err = error_of(api.post("/v1/ledger/transfers", data=data | {"amount": 2**62}), 400)
    assert err["param"] == "amount"
    r = api.post("/v1/ledger/transfers/batch", json={"transfers": [data | {"amount": 2**62}]})
    assert r.json()["data"][0]["error"]["param"] == "transfers[0][amount]"
    for i in range(2):
        r = api.post("/v1/ledger/transfers", data=data | {"id": f"max{i}", "amount": MAX_AMOUNT})
        assert r.status_code == 200, r.text
    acct = api.get(f"/v1/ledger/accounts/{b}").json()
    assert acct["credits_posted"] == 2 * MAX_AMOUNT
    assert type(acct["credits_posted"]) is int
    assert run_verify(runtime).ok


def test_the_service_refuses_amounts_above_the_maximum(
    runtime: Runtime, merchant: Merchant
) -> None:
    a, b = account(runtime, merchant.id, "a"), account(runtime, merchant.id, "b")
    (res,) = post(
        runtime,
        merchant.id,
        T(id="x", debit_account_id=a, credit_account_id=b, amount=MAX_AMOUNT + 1, currency="usd"),
    )
    assert res.error is not None
    assert (res.error.code, res.error.param) == ("amount_too_large", "amount")


@pytest.mark.parametrize(
    ("kind", "side", "code"),
    [
        ("posted", "credit", "overflows_credits_posted"),
        ("posted", "debit", "overflows_debits_posted"),
        ("pending", "credit", "overflows_credits_pending"),
        ("pending", "debit", "overflows_debits_pending"),
    ],
)
def test_each_field_up_to_the_limit_and_not_one_past(
    runtime: Runtime, merchant: Merchant, kind: str, side: str, code: str
) -> None:
    m = merchant.id
    src, full, other = (account(runtime, m, p) for p in ("src", "full", "other"))
    debit, credit = (full, other) if side == "debit" else (other, full)
    # ``full`` reaches LIMIT - 5 on the tested side: one batch, spread over the slots.
    if side == "debit":
        _fill(runtime, m, full, src, LIMIT - 5, kind)
    else:
        _fill(runtime, m, src, full, LIMIT - 5, kind)
    before = balance(runtime, m, full).as_tuple()

    def one(tid: str, amount: int) -> TransferResult:
        (res,) = post(
            runtime,
            m,
            T(
                id=tid,
                kind=kind,
                debit_account_id=debit,
                credit_account_id=credit,
                amount=amount,
                currency="usd",
            ),
        )
        return res

    res = one("over", 6)
    assert res.error is not None
    assert (res.error.code, res.error.param) == (code, "amount")
    assert balance(runtime, m, full).as_tuple() == before
    assert one("exact", 5).ok
    after = balance(runtime, m, full).as_tuple()
    assert max(after) == LIMIT
    res = one("one-more", 1)
    assert res.error is not None
    assert res.error.code == code
    assert balance(runtime, m, full).as_tuple() == after
    report = run_verify(runtime)
    assert report.ok, [str(p) for p in report.problems]


def test_pending_plus_posted_is_limited_too(runtime: Runtime, merchant: Merchant) -> None:
    m = merchant.id
    src, acct, other = (account(runtime, m, p) for p in ("src", "acct", "other"))
    _fill(runtime, m, src, acct, LIMIT // 2)  # credits_posted
    _fill(runtime, m, other, acct, LIMIT // 2 - 3, KIND_PENDING)  # credits_pending
    (res,) = post(
        runtime,
        m,
        T(
            id="p",
            kind=KIND_PENDING,
            debit_account_id=src,
            credit_account_id=acct,
            amount=4,
            currency="usd",
        ),
    )
    assert res.error is not None
    assert res.error.code == "overflows_credits"
    (res,) = post(
        runtime,
        m,
        T(id="q", debit_account_id=src, credit_account_id=acct, amount=3, currency="usd"),
    )
    assert res.ok
    assert balance(runtime, m, acct).as_tuple() == (0, 0, LIMIT // 2 - 3, LIMIT // 2 + 3)


def test_releases_never_overflow(runtime: Runtime, merchant: Merchant) -> None:
    """A full account still posts (for less) and voids its holds."""
    m = merchant.id
    src, acct = account(runtime, m, "src"), account(runtime, m, "acct")
    _fill(runtime, m, src, acct, LIMIT - 10)
    hold = T(
        id="hold",
        kind=KIND_PENDING,
        debit_account_id=src,
        credit_account_id=acct,
        amount=10,
        currency="usd",
    )
    assert post(runtime, m, hold)[0].ok
    assert post(runtime, m, T(id="post", kind=KIND_POST, pending_id="hold", amount=7))[0].ok
    assert balance(runtime, m, acct).as_tuple() == (0, 0, 0, LIMIT - 3)
    hold2 = T(
        id="hold2",
        kind=KIND_PENDING,
        debit_account_id=src,
        credit_account_id=acct,
        amount=3,
        currency="usd",
    )
    assert post(runtime, m, hold2)[0].ok
    assert post(runtime, m, T(id="void", kind=KIND_VOID, pending_id="hold2"))[0].ok
    assert run_verify(runtime).ok


def test_an_overflow_in_a_batch_fails_its_chain_only(runtime: Runtime, merchant: Merchant) -> None:
    m = merchant.id
    filler, src, full, other = (account(runtime, m, p) for p in ("filler", "src", "full", "other"))
    _fill(runtime, m, filler, full, LIMIT - 1)

    def t(tid: str, credit: str, amount: int, linked: bool = False) -> TransferRequest:
        return T(
            id=tid,
            debit_account_id=src,
            credit_account_id=credit,
            amount=amount,
            currency="usd",
            linked=linked,
        )

    results = post(
        runtime,
        m,
        t("a", other, 5),
        t("b1", other, 7, linked=True),
        t("b2", full, 2),  # one past the limit: b1 goes with it
        t("c", full, 1),  # exactly to the limit
        t("d", full, 1),  # one past it
    )
    assert codes(results) == [
        None,
        "linked_event_failed",
        "overflows_credits_posted",
        None,
        "overflows_credits_posted",
    ]
    assert balance(runtime, m, full).as_tuple() == (0, 0, 0, LIMIT)
    assert balance(runtime, m, other).as_tuple() == (0, 0, 0, 5)
    assert run_verify(runtime).ok


def test_the_posting_rules_path_sees_the_limit(runtime: Runtime, merchant: Merchant) -> None:
    """``create_transfers`` with ``known`` and ``accounts`` (what the posting rules pass)."""
    m = merchant.id
    filler, src, full = (account(runtime, m, p) for p in ("filler", "src", "full"))
    _fill(runtime, m, filler, full, LIMIT)
    with runtime.db.unit_of_work() as uow:
        rows = [runtime.ledger.get_account(uow, m, a) for a in (src, full)]
        infos = [
            AccountInfo(a.id, a.merchant_id, a.purpose, a.currency, a.flags, a.slots) for a in rows
        ]
        req = T(
            id="sb.pi_x.capture",
            debit_account_id=src,
            credit_account_id=full,
            amount=1,
            currency="usd",
        )
        (res,) = runtime.ledger.create_transfers(
            uow, m, [req], allow_reserved=True, known={}, accounts=infos
        )
        assert res.error is not None
        assert res.error.code == "overflows_credits_posted"
        uow.commit()
    assert balance(runtime, m, full).as_tuple() == (0, 0, 0, LIMIT)


# ---------------------------------------------------------------------- the database's half


def test_the_database_refuses_past_the_limits(runtime: Runtime, merchant: Merchant) -> None:
    m = merchant.id
    a, b = account(runtime, m, "a"), account(runtime, m, "b")
    assert post(
        runtime, m, T(id="t", debit_account_id=a, credit_account_id=b, amount=5, currency="usd")
    )[0].ok
    over = "UPDATE ledger_balance_slots SET credits_posted = :v WHERE account_id = :a"
    for value in (MAX_BALANCE + 1, 2**63 - 1):
        with raw(runtime) as conn, pytest.raises(REFUSED):
            conn.execute(sa.text(over), {"v": value, "a": b})
    side = (
        "UPDATE ledger_balance_slots SET credits_pending = :v "
        "WHERE account_id = :a AND credits_posted > 0"
    )
    with raw(runtime) as conn, pytest.raises(REFUSED):
        conn.execute(sa.text(side), {"v": MAX_BALANCE, "a": b})  # pending + posted past it
    insert = (
        "INSERT INTO ledger_transfers (id, txn_id, merchant_id, debit_account_id, "
        "credit_account_id, amount, currency, kind, code, linked, metadata, created) VALUES "
        "('big', 'txn_big', :m, :a, :b, :amount, 'usd', 'posted', 'x', false, '{}', "
        "CURRENT_TIMESTAMP)"
    )
    with raw(runtime) as conn, pytest.raises(REFUSED):
        conn.execute(sa.text(insert), {"m": m, "a": a, "b": b, "amount": MAX_AMOUNT + 1})
    if runtime.db.is_sqlite:  # PostgreSQL's bigint holds nothing but integers
        with raw(runtime) as conn, pytest.raises(REFUSED):
            conn.execute(sa.text(over), {"v": 5.5, "a": b})
    assert run_verify(runtime).ok


@contextmanager
def limits_off(runtime: Runtime) -> Iterator[sa.Connection]:
    """A connection with the ledger's triggers and limit constraints off, as before 0011;
    the constraints come back afterwards (``NOT VALID``, as the migration adds them)."""
    migration = importlib.import_module("strongbox.db.migrations.versions.0011_ledger_limits")
    with raw(runtime, bypass=True) as conn:
        for stmt in migration.SQLITE_DOWN if runtime.db.is_sqlite else migration.PG_DOWN:
            conn.execute(sa.text(stmt))
        yield conn
    with raw(runtime) as conn:
        for stmt in migration.SQLITE_UP if runtime.db.is_sqlite else migration.PG_UP:
            conn.execute(sa.text(stmt))


def test_verify_survives_what_was_stored_before_the_limits(
    runtime: Runtime, merchant: Merchant
) -> None:
    """The issue's aftermath, stored around the service: two 2^62 transfers into one account,
    its balance at 2^63 (a ``real`` on SQLite). Verify reports it, and does not crash."""
    m = merchant.id
    a, b = account(runtime, m, "a"), account(runtime, m, "b")
    insert = (
        "INSERT INTO ledger_transfers (id, txn_id, merchant_id, debit_account_id, "
        "credit_account_id, amount, currency, kind, code, linked, metadata, created) VALUES "
        "(:id, :txn, :m, :a, :b, :amount, 'usd', 'posted', 'x', false, '{}', CURRENT_TIMESTAMP)"
    )
    set_slots = "UPDATE ledger_balance_slots SET {col} = :v WHERE account_id = :a AND slot < 2"
    with limits_off(runtime) as conn:
        for i in range(2):
            row = {"id": f"big{i}", "txn": f"txn_big{i}", "m": m, "a": a, "b": b}
            conn.execute(sa.text(insert), row | {"amount": 2**62})
        if runtime.db.is_sqlite:  # what SQLite's overflowing ``+`` stored: a real; and text
            conn.execute(sa.text(set_slots.format(col="credits_posted")), {"v": 2.0**63, "a": b})
            conn.execute(sa.text(set_slots.format(col="debits_posted")), {"v": "lots", "a": a})
        else:  # PostgreSQL: two slots of 2^62 each, the account at 2^63
            conn.execute(sa.text(set_slots.format(col="credits_posted")), {"v": 2**62, "a": b})
            conn.execute(sa.text(set_slots.format(col="debits_posted")), {"v": 2**62, "a": a})
    report = run_verify(runtime)
    text = [str(p) for p in report.problems]
    assert any(
        p.check == "limits" and "big0" in p.subject and "above the maximum" in p.message
        for p in report.problems
    ), text
    assert any(
        p.check == "limits" and p.subject == b and str(2**63) in p.message for p in report.problems
    ), text
    if runtime.db.is_sqlite:
        assert any(
            p.check == "integers" and "credits_posted" in p.message for p in report.problems
        ), text
        assert any(p.check == "integers" and "'lots'" in p.message for p in report.problems), text
    # The service still reads balances as integers.
    bal = balance(runtime, m, b)
    assert all(type(x) is int for x in bal.as_tuple())


# ---------------------------------------------------------------------- the property


@dataclass
class Model:
    """The ledger as TigerBeetle defines it, with our limit."""

    balances: dict[str, list[int]]
    pendings: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # open holds
    done: dict[str, str] = field(default_factory=dict)  # resolved holds -> kind

    def expect(
        self, kind: str, debit: str, credit: str, amount: int, pid: str | None
    ) -> str | None:
        if pid is not None:
            if pid in self.done:
                return {
                    "post": "pending_transfer_already_posted",
                    "void": "pending_transfer_already_voided",
                }[self.done[pid]]
            debit, credit, held = self.pendings[pid]
            if amount > held:
                return "exceeds_pending_transfer_amount"
            d = (-held, amount if kind == KIND_POST else 0, 0, 0)
            c = (0, 0, -held, amount if kind == KIND_POST else 0)
        elif kind == KIND_PENDING:
            d, c = (amount, 0, 0, 0), (0, 0, amount, 0)
        else:
            d, c = (0, amount, 0, 0), (0, 0, 0, amount)
        for acct, delta in ((debit, d), (credit, c)):
            dp, dpo, cp, cpo = (x + y for x, y in zip(self.balances[acct], delta, strict=True))
            for grew, value, code in (
                (delta[0] > 0, dp, "overflows_debits_pending"),
                (delta[2] > 0, cp, "overflows_credits_pending"),
                (delta[1] > 0, dpo, "overflows_debits_posted"),
                (delta[3] > 0, cpo, "overflows_credits_posted"),
                (delta[0] + delta[1] > 0, dp + dpo, "overflows_debits"),
                (delta[2] + delta[3] > 0, cp + cpo, "overflows_credits"),
            ):
                if grew and value > LIMIT:
                    return code
        for acct, delta in ((debit, d), (credit, c)):
            self.balances[acct] = [x + y for x, y in zip(self.balances[acct], delta, strict=True)]
        return None


NAMES = ("s1", "s2", "a", "b")
AMOUNTS = st.one_of(
    st.sampled_from([1, 2, 3, MAX_AMOUNT, MAX_AMOUNT - 1, MAX_AMOUNT // 2]),
    st.integers(min_value=1, max_value=MAX_AMOUNT),
)
OPS = st.one_of(
    st.tuples(
        st.sampled_from(["posted", "pending"]),
        st.sampled_from(NAMES),
        st.sampled_from(NAMES),
        AMOUNTS,
    ),
    st.tuples(st.just("post"), st.integers(0, 5), st.one_of(st.none(), AMOUNTS)),
    st.tuples(st.just("void"), st.integers(0, 5)),
)
HEADROOM = st.one_of(
    st.sampled_from([0, 1, 2, MAX_AMOUNT, MAX_AMOUNT + 1]), st.integers(0, 3 * MAX_AMOUNT)
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(headroom=st.tuples(HEADROOM, HEADROOM), ops=st.lists(OPS, min_size=1, max_size=8))
def test_transfers_near_the_limits_behave_as_the_model(
    runtime: Runtime, new_merchant: Any, headroom: tuple[int, int], ops: list[tuple[Any, ...]]
) -> None:
    """Accounts filled to within a few amounts of the limit (``s1 -> a`` posted, ``s2 -> b``
    pending), then random transfers, holds, posts and voids between all four: every outcome
    and every balance is the model's, every balance an integer within the limit, and
    ``ledger verify`` passes."""
    m = new_merchant("Limits").id
    ids = {n: account(runtime, m, n) for n in NAMES}
    fill_a, fill_b = LIMIT - headroom[0], LIMIT - headroom[1]
    _fill(runtime, m, ids["s1"], ids["a"], fill_a)
    _fill(runtime, m, ids["s2"], ids["b"], fill_b, KIND_PENDING)
    model = Model(
        balances={
            ids["s1"]: [0, fill_a, 0, 0],
            ids["a"]: [0, 0, 0, fill_a],
            ids["s2"]: [fill_b, 0, 0, 0],
            ids["b"]: [0, 0, fill_b, 0],
        }
    )
    holds: list[str] = []
    for n, op in enumerate(ops):
        tid = f"op{n}"
        if op[0] in ("posted", "pending"):
            kind, dn, cn, amount = op
            if dn == cn:
                continue
            want = model.expect(kind, ids[dn], ids[cn], amount, None)
            req = T(
                id=tid,
                kind=kind,
                debit_account_id=ids[dn],
                credit_account_id=ids[cn],
                amount=amount,
                currency="usd",
            )
            (res,) = post(runtime, m, req)
            if kind == KIND_PENDING and want is None:
                holds.append(tid)
                model.pendings[tid] = (ids[dn], ids[cn], amount)
        else:
            if not holds:
                continue
            pid = holds[op[1] % len(holds)]
            kind = KIND_POST if op[0] == "post" else KIND_VOID
            held = model.pendings[pid][2]
            amount = held if kind == KIND_VOID or op[2] is None else op[2]
            want = model.expect(kind, "", "", amount, pid)
            given_amount = None if kind == KIND_VOID else amount
            (res,) = post(runtime, m, T(id=tid, kind=kind, pending_id=pid, amount=given_amount))
            if want is None:
                model.done[pid] = kind
        assert (res.error.code if res.error else None) == want, (op, res.error)
        for acct in ids.values():
            got = balance(runtime, m, acct).as_tuple()
            assert list(got) == model.balances[acct], (op, acct)
            assert all(type(x) is int for x in got)
            assert got[0] + got[1] <= LIMIT
            assert got[2] + got[3] <= LIMIT
    report = run_verify(runtime)
    assert report.ok, [str(p) for p in report.problems]
