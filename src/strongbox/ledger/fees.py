"""Processing fees per merchant: a percentage in basis points plus a fixed amount per currency."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from strongbox.core.currencies import get_currency
from strongbox.db.uow import UnitOfWork
from strongbox.ledger import repository as repo
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
    """Fee schedules, with a short in-process cache (a capture reads its fee on the payment's
    hot path). A change made through this process applies at once; one made by another
    process applies within ``cache_seconds``."""

    def __init__(self, default: FeeDefault | None = None, cache_seconds: float = 10.0) -> None:
        self.default = default or FeeDefault()
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def schedule_for(self, uow: UnitOfWork, merchant_id: str, currency: str) -> tuple[int, int]:
        """(percent_bps, fixed) for a currency: its own row, else the ``*`` row, else default."""
        key = (merchant_id, currency)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = self._read(uow, merchant_id, currency)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self.cache_seconds, value)
        return value

    def _read(self, uow: UnitOfWork, merchant_id: str, currency: str) -> tuple[int, int]:
        rows = {
            r.currency: r
            for r in repo.fee_schedules_for(uow.session, merchant_id, [currency, ANY_CURRENCY])
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
        row = repo.get_fee_schedule(uow.session, merchant_id, currency)
        now = uow.clock.now()
        if row is None:
            row = FeeSchedule(
                merchant_id=merchant_id,
                currency=currency,
                percent_bps=percent_bps,
                fixed_amount=fixed,
                updated=now,
            )
            repo.add_fee_schedule(uow.session, row)
        else:
            row.percent_bps = percent_bps
            row.fixed_amount = fixed
            row.updated = now
        uow.flush()

        def forget() -> None:
            with self._lock:
                self._cache = {k: v for k, v in self._cache.items() if k[0] != merchant_id}

        uow.after_commit(forget)
        return row

    def list_schedules(self, uow: UnitOfWork, merchant_id: str) -> list[FeeSchedule]:
        return repo.list_fee_schedules(uow.session, merchant_id)
