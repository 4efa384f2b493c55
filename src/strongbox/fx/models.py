"""Exchange rates with their history: one row per source, day and currency (platform data,
not a merchant's). The rate is the exact decimal the source published, as text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from strongbox.db.base import Base, seq_column


class ExchangeRate(Base):
    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("source", "day", "currency", name="uq_fx_rates_day"),
        Index("ix_fx_rates_latest", "source", "day"),
    )

    seq: Mapped[int] = seq_column()
    source: Mapped[str] = mapped_column(String(32))
    base: Mapped[str] = mapped_column(String(3))
    day: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[str] = mapped_column(String(40))  # units of currency per 1 base, exact
    loaded: Mapped[datetime]
