"""The transaction list's filters (Stripe's ``transacted_at`` range and
``transaction_refresh[after]``) in terms of the stored rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from strongbox.banking import repository as repo
from strongbox.banking.models import BankAccountRow
from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.params import RangeQuery
from strongbox.db.uow import UnitOfWork

_FIRST_DAY = date(1970, 1, 1)
_LAST_DAY = date(9999, 12, 31)


def _day(value: int, op: str) -> tuple[date, bool]:
    """The UTC day of a Unix time, and whether the time is that day's midnight."""
    try:
        when = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequestError(
            f"Invalid transacted_at[{op}]: not a valid Unix timestamp.",
            code="parameter_invalid_integer",
            param=f"transacted_at[{op}]",
        ) from None
    return when.date(), when.time() == time(0)


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return _LAST_DAY if days > 0 else _FIRST_DAY


def transacted_days(q: RangeQuery | None) -> dict[str, date] | None:
    """A ``transacted_at`` range as inclusive bounds on the transaction's day.

    A transaction shows ``transacted_at`` as its day's midnight (UTC), so ``gte T`` keeps the
    days whose midnight is at or after ``T``, ``lt T`` those whose midnight is before ``T``.
    """
    if q is None:
        return None
    bounds: dict[str, date] = {}

    def tighten(op: str, day: date) -> None:
        old = bounds.get(op)
        if old is None or (day > old if op == "gte" else day < old):
            bounds[op] = day

    if q.gte is not None:
        day, midnight = _day(q.gte, "gte")
        tighten("gte", day if midnight else _shift(day, 1))
    if q.gt is not None:
        day, _ = _day(q.gt, "gt")
        tighten("gte", _shift(day, 1))
    if q.lte is not None:
        day, _ = _day(q.lte, "lte")
        tighten("lte", day)
    if q.lt is not None:
        day, midnight = _day(q.lt, "lt")
        tighten("lte", _shift(day, -1) if midnight else day)
    return bounds


def refreshed_after(uow: UnitOfWork, a: BankAccountRow, refresh_id: str | None) -> datetime | None:
    """The time after which ``transaction_refresh[after]`` lists changes: when that refresh
    wrote its rows (or, when it changed none, when it ran, if it is the account's latest)."""
    if refresh_id is None:
        return None
    at = repo.transaction_refresh_time(uow.session, a.merchant_id, refresh_id)
    if at is not None:
        return at
    latest = a.transaction_refresh or {}
    if latest.get("id") == refresh_id and latest.get("last_attempted_at") is not None:
        return datetime.fromtimestamp(int(latest["last_attempted_at"]), tz=UTC)
    raise ResourceMissingError(
        f"No such transaction refresh: '{refresh_id}'", param="transaction_refresh[after]"
    )
