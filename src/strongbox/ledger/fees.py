"""Processing fees per merchant: a percentage in basis points plus a fixed amount per currency."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select

from strongbox.core.currencies import get_currency
from strongbox.db.uow import UnitOfWork
from strongbox.ledger.models import FeeSchedule

ANY_CURRENCY = "*"
_FIXED_ITEM = re.compile(r"([A-Za-z]{3})=([0-9]{1,9})")


@dataclass(frozen=True, slots=True)
class FeeDefault:
    """The fee of merchants without a schedule of their own (from settings)."""

    percent_bps: int = 0
    fixed: dict[str, int] = field(default_factory=dict)  # currency -> minor units


def parse_fixed(spec: str) -> dict[str, int]:
    """``"usd=30,eur=25"`` -> ``{"usd": 30, "eur": 25}``; raises ``ValueError`` if malformed."""
    out: dict[str, int] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        m = _FIXED_ITEM.fullmatch(item)
        if m is None or get_currency(m.group(1)) is None:
            raise ValueError(f"not a currency=amount pair: {item[:20]!r}")
        out[m.group(1).lower()] = int(m.group(2))
    return out


def compute_fee(amount: int, percent_bps: int, fixed: int) -> int:
    """``amount * bps / 10000`` rounded half up, plus ``fixed``; never more than ``amount``."""
    fee = (amount * percent_bps + 5000) // 10000 + fixed
    return max(0, min(fee, amount))


class Fees:
    def __init__(self, default: FeeDefault | None = None) -> None:
        self.default = default or FeeDefault()

    def schedule_for(self, uow: UnitOfWork, merchant_id: str, currency: str) -> tuple[int, int]:
        """(percent_bps, fixed) for a currency: its own row, else the ``*`` row, else default."""
        rows = {
            r.currency: r
            for r in uow.session.scalars(
                select(FeeSchedule).where(
                    FeeSchedule.merchant_id == merchant_id,
                    FeeSchedule.currency.in_([currency, ANY_CURRENCY]),
                )
            )
        }
        row = rows.get(currency) or rows.get(ANY_CURRENCY)
        if row is not None:
            return row.percent_bps, row.fixed_amount
        return self.default.percent_bps, self.default.fixed.get(currency, 0)

    def fee_for(self, uow: UnitOfWork, merchant_id: str, currency: str, amount: int) -> int:
        bps, fixed = self.schedule_for(uow, merchant_id, currency)
        return compute_fee(amount, bps, fixed)

    def set_schedule(
        self, uow: UnitOfWork, merchant_id: str, currency: str, percent_bps: int, fixed: int
    ) -> FeeSchedule:
        row = uow.session.get(FeeSchedule, (merchant_id, currency))
        now = uow.clock.now()
        if row is None:
            row = FeeSchedule(
                merchant_id=merchant_id,
                currency=currency,
                percent_bps=percent_bps,
                fixed_amount=fixed,
                updated=now,
            )
            uow.session.add(row)
        else:
            row.percent_bps = percent_bps
            row.fixed_amount = fixed
            row.updated = now
        uow.flush()
        return row

    def list_schedules(self, uow: UnitOfWork, merchant_id: str) -> list[FeeSchedule]:
        return list(
            uow.session.scalars(
                select(FeeSchedule)
                .where(FeeSchedule.merchant_id == merchant_id)
                .order_by(FeeSchedule.currency)
            )
        )
