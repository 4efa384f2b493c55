"""The write path's budget (issue 24): a single transfer between accounts already seen is
three round trips on PostgreSQL (BEGIN; SAVEPOINT and the prepared statement in one query;
COMMIT), counted from libpq's protocol trace, and it recovers when its prepared statement is
gone."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from ledger.helpers import account, balance, post
from strongbox.ledger.service import TransferRequest as T
from strongbox.runtime import Runtime
from support import Merchant


def _round_trips(runtime: Runtime, merchant_id: str, req: T) -> tuple[int, bool]:
    """(round trips of one unit of work posting ``req``, whether it was created)."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace"
        with runtime.db.unit_of_work() as uow, trace.open("w") as f:
            raw = uow.session.connection().connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            raw.pgconn.trace(f.fileno())
            raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            (res,) = runtime.ledger.create_transfers_retrying(uow, merchant_id, [req])
            uow.commit()
            raw.pgconn.untrace()
        lines = [line.split() for line in trace.read_text().splitlines()]
    # Every message the client waits on ends with Sync (extended protocol) or is a Query.
    waits = sum(1 for w in lines if len(w) > 2 and w[0] == "F" and w[2] in ("Sync", "Query"))
    assert res.ok, res.error
    return waits, not res.replayed


def test_a_single_transfer_is_three_round_trips(
    runtime: Runtime, merchant: Merchant, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("round trips are PostgreSQL's; SQLite runs in-process")
    m = merchant.id
    a, b = account(runtime, m, "a"), account(runtime, m, "b")
    assert post(
        runtime, m, T(id="warm", debit_account_id=a, credit_account_id=b, amount=1, currency="usd")
    )[0].ok
    first = T(id="t1", debit_account_id=a, credit_account_id=b, amount=5, currency="usd")
    _round_trips(runtime, m, first)  # this connection may still have to prepare the statement
    for i in range(2, 5):
        req = T(id=f"t{i}", debit_account_id=a, credit_account_id=b, amount=5, currency="usd")
        assert _round_trips(runtime, m, req) == (3, True)
    assert _round_trips(runtime, m, first) == (3, False)  # a replay: the same, nothing written
    assert balance(runtime, m, b).as_tuple() == (0, 0, 0, 1 + 4 * 5)


def test_a_lost_prepared_statement_is_prepared_again(
    runtime: Runtime, merchant: Merchant, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the prepared statement is PostgreSQL's")
    m = merchant.id
    a, b = account(runtime, m, "a"), account(runtime, m, "b")
    assert post(
        runtime, m, T(id="warm", debit_account_id=a, credit_account_id=b, amount=1, currency="usd")
    )[0].ok
    for i in range(3):
        with runtime.db.unit_of_work() as uow:
            uow.session.execute(sa.text("DEALLOCATE ALL"))  # what a pooler's DISCARD ALL does
            req = T(
                id=f"after{i}", debit_account_id=a, credit_account_id=b, amount=2, currency="usd"
            )
            (res,) = runtime.ledger.create_transfers_retrying(uow, m, [req])
            assert res.ok, res.error
            uow.commit()
    assert balance(runtime, m, b).as_tuple() == (0, 0, 0, 1 + 3 * 2)
    assert post(
        runtime, m, T(id="again", debit_account_id=a, credit_account_id=b, amount=1, currency="usd")
    )[0].ok
