"""``GET /v1/financial_connections/transactions`` filters: ``transacted_at`` (gt, gte, lt,
lte; a transaction's ``transacted_at`` is its day's midnight UTC) and
``transaction_refresh[after]``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from banking.conftest import Bank
from banking.fakes.plaid_fake import PlaidFake
from strongbox.banking.listing import transacted_days
from strongbox.core.params import RangeQuery
from support import error_of

TXNS = "/v1/financial_connections/transactions"


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), UTC).timestamp())


def _refresh(bank: Bank, acct: str) -> dict[str, Any]:
    r = bank.api.post(
        f"/v1/financial_connections/accounts/{acct}/refresh", data={"features[0]": "transactions"}
    )
    assert r.status_code == 200, r.text
    return bank.settle_refresh(acct, "transaction_refresh")


def _listed(bank: Bank, **params: Any) -> list[str]:
    r = bank.api.get(TXNS, params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    return sorted(t["description"] for t in r.json()["data"])


def test_transacted_at_and_refresh_filters(bank: Bank, plaid_fake: PlaidFake) -> None:
    acct = bank.link()["accounts"]["data"][0]["id"]
    first = _refresh(bank, acct)["transaction_refresh"]["id"]
    (item,) = plaid_fake.items.values()
    plaid_fake.add_transactions(
        item.item_id,
        [
            {"name": "Third", "date": "2026-12-03", "amount": 3.0},
            {"name": "Fifth", "date": "2026-12-05", "amount": 5.0},
        ],
    )
    second = _refresh(bank, acct)["transaction_refresh"]["id"]
    assert second != first
    old = ["Payroll", "Tectra", "Uber"]  # 2026-12-01
    d3 = _midnight(date(2026, 12, 3))
    a = {"account": acct}
    assert _listed(bank, **a) == sorted([*old, "Third", "Fifth"])
    assert _listed(bank, **a, **{"transacted_at[gte]": d3}) == ["Fifth", "Third"]
    assert _listed(bank, **a, **{"transacted_at[gt]": d3}) == ["Fifth"]
    assert _listed(bank, **a, **{"transacted_at[lt]": d3}) == old
    assert _listed(bank, **a, **{"transacted_at[lte]": d3 + 3600}) == sorted([*old, "Third"])
    assert _listed(bank, **a, **{"transacted_at[gte]": d3 + 1}) == ["Fifth"]
    assert _listed(bank, **a, **{"transacted_at[gt]": d3, "transacted_at[lt]": d3}) == []
    assert _listed(bank, **a, **{"transaction_refresh[after]": first}) == ["Fifth", "Third"]
    assert _listed(bank, **a, **{"transaction_refresh[after]": second}) == []


def test_bad_filters_are_stripe_errors(bank: Bank) -> None:
    acct = bank.link()["accounts"]["data"][0]["id"]
    r = bank.api.get(TXNS, params={"account": acct, "transaction_refresh[after]": "fctxnref_x"})
    assert error_of(r, 404)["param"] == "transaction_refresh[after]"
    r = bank.api.get(TXNS, params={"account": acct, "transacted_at[gte]": "99999999999999999"})
    assert error_of(r, 400)["param"] == "transacted_at[gte]"
    r = bank.api.get(TXNS, params={"account": acct, "transacted_at[lt]": "soon"})
    assert error_of(r, 400)["param"].startswith("transacted_at")


@given(
    day=st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 1, 1)),
    offset=st.integers(min_value=-3 * 86400, max_value=3 * 86400),
    op=st.sampled_from(["gt", "gte", "lt", "lte"]),
)
def test_day_bounds_match_comparing_midnights(day: date, offset: int, op: str) -> None:
    """For every day and bound, the day is kept exactly when its midnight satisfies it."""
    t = _midnight(day) + offset
    bounds = transacted_days(RangeQuery.model_validate({op: t}))
    assert bounds is not None
    kept = bounds.get("gte", date.min) <= day <= bounds.get("lte", date.max)
    m = _midnight(day)
    expected = {"gt": m > t, "gte": m >= t, "lt": m < t, "lte": m <= t}[op]
    assert kept == expected
    neighbour = day + timedelta(days=1 if offset < 0 else -1)
    kept_n = bounds.get("gte", date.min) <= neighbour <= bounds.get("lte", date.max)
    mn = _midnight(neighbour)
    assert kept_n == {"gt": mn > t, "gte": mn >= t, "lt": mn < t, "lte": mn <= t}[op]
