"""All exchange rate queries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from strongbox.fx.ecb import RateSet
from strongbox.fx.models import ExchangeRate


def store(session: Session, dialect: str, sets: list[RateSet], now: datetime) -> int:
    """Insert the rates not stored yet (a day once stored is never changed); the new rows."""
    rows = [
        {
            "source": rs.source,
            "base": rs.base,
            "day": rs.day.isoformat(),
            "currency": cur,
            "rate": str(rate),
            "loaded": now,
        }
        for rs in sets
        for cur, rate in sorted(rs.rates.items())
    ]
    if not rows:
        return 0
    ins = pg_insert(ExchangeRate) if dialect == "postgresql" else sqlite_insert(ExchangeRate)
    stmt = ins.on_conflict_do_nothing(index_elements=["source", "day", "currency"])
    before = session.scalar(select(func.count()).select_from(ExchangeRate)) or 0
    for i in range(0, len(rows), 2000):
        session.execute(stmt, rows[i : i + 2000])
    after = session.scalar(select(func.count()).select_from(ExchangeRate)) or 0
    return int(after - before)


def latest_day(session: Session, source: str) -> str | None:
    day: str | None = session.scalar(
        select(func.max(ExchangeRate.day)).where(ExchangeRate.source == source)
    )
    return day


def rate_set(session: Session, source: str, day: str | None = None) -> RateSet | None:
    """The rates of ``day`` (default: the latest day stored)."""
    day = day or latest_day(session, source)
    if day is None:
        return None
    rows = list(
        session.scalars(
            select(ExchangeRate).where(ExchangeRate.source == source, ExchangeRate.day == day)
        )
    )
    if not rows:
        return None
    return RateSet(
        source=source,
        base=rows[0].base,
        day=date.fromisoformat(day),
        rates={r.currency: Decimal(r.rate) for r in rows},
    )


def on_or_before(session: Session, source: str, day: date) -> RateSet | None:
    """The rates in force on ``day``: that day's, or the last published before it."""
    found: str | None = session.scalar(
        select(func.max(ExchangeRate.day)).where(
            ExchangeRate.source == source, ExchangeRate.day <= day.isoformat()
        )
    )
    return rate_set(session, source, found) if found else None
