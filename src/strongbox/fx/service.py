"""Rates loaded from a provider and kept with their history; rates read for requests;
conversion of an amount at a recorded rate.

**Conversion rule.** ``convert(amount, from, to, rates, markup_bps)``: the rate is the
cross rate through the source's base (``rate = rates[to] / rates[from]``, exact decimals,
28 significant digits), less the markup (``rate * (10000 - markup_bps) / 10000``: the
merchant receives less by the markup); the converted amount is ``amount`` in major units
times that rate, in the target currency's minor units, **rounded half up** (half away from
zero) once, to the currency's amount step (1 minor unit; Stripe's three-decimal currencies:
a multiple of 10; ISK: 100). The rate applied (rounded to 12 significant digits: the
figure recorded, and the one the amount is computed with) and its publication day are
returned with the amount, so both amounts, the rate and its date can be stored with
whatever was converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Final

from sqlalchemy.orm import Session

from strongbox.core.currencies import get_currency
from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.db.uow import Database
from strongbox.events.types import RequestContext, raise_event
from strongbox.fx import repository as repo
from strongbox.fx.cache import RateCache
from strongbox.fx.ecb import SOURCE, RateSet
from strongbox.fx.providers import RateProvider

PLATFORM: Final = "platform"
_CTX: Final = Context(prec=28, rounding=ROUND_HALF_UP)
RECORDED_DIGITS: Final = 12


def load(db: Database, provider: RateProvider, cache: RateCache | None = None) -> int:
    """Fetch (outside any transaction), store what is new, refresh the cache; new rows."""
    sets = provider.fetch()
    with db.unit_of_work() as uow:
        added = repo.store(uow.session, uow.dialect, sets, uow.clock.now())
        if added:
            days = sorted({rs.day.isoformat() for rs in sets})
            raise_event(
                uow,
                RequestContext(merchant_id=PLATFORM, actor=f"system:fx:{provider.name}"),
                "strongbox.fx.rates_loaded",
                "fx_rates",
                f"{sets[-1].source}:{days[-1]}",
                {"source": sets[-1].source, "days": days[-20:], "rows": added},
                merchant_id=PLATFORM,
            )
        latest = repo.rate_set(uow.session, sets[-1].source)
        uow.commit()
    if cache is not None and latest is not None:
        cache.put(latest)
    return added


def latest(session: Session, cache: RateCache, source: str = SOURCE) -> RateSet | None:
    """The latest rates: the cache, else the database (then cached). Never the source."""
    hit = cache.get(source)
    if hit is not None:
        return hit
    rs = repo.rate_set(session, source)
    if rs is not None:
        cache.put(rs)
    return rs


def cross_rates(rs: RateSet, base: str) -> dict[str, Decimal]:
    """Units of each currency per 1 unit of ``base``."""
    b = base.lower()
    if b not in rs.rates:
        raise ResourceMissingError(f"No such exchange rate: '{b}'", param="id")
    pivot = rs.rates[b]
    return {c: _CTX.divide(r, pivot) for c, r in sorted(rs.rates.items()) if c != b}


@dataclass(frozen=True, slots=True)
class Conversion:
    amount: int  # in the target currency's minor units
    currency: str
    source_amount: int
    source_currency: str
    rate: Decimal  # applied (markup included), recorded to 12 significant digits
    rate_date: date
    markup_bps: int


def convert(
    amount: int, from_currency: str, to_currency: str, rs: RateSet, *, markup_bps: int = 0
) -> Conversion:
    src, dst = get_currency(from_currency), get_currency(to_currency)
    if src is None or dst is None:
        raise InvalidRequestError("Unknown currency.", code="parameter_invalid", param="currency")
    if not 0 <= markup_bps < 10_000:
        raise InvalidRequestError(
            "The markup must be 0 to 9,999 basis points.", code="parameter_invalid", param="markup"
        )
    f, t = src.code.lower(), dst.code.lower()
    if f == t:
        rate = Decimal(1)
    else:
        if f not in rs.rates or t not in rs.rates:
            missing = f if f not in rs.rates else t
            raise InvalidRequestError(
                f"No {rs.source} rate for {missing.upper()} on {rs.day.isoformat()}.",
                code="exchange_rate_unavailable",
                param="currency",
            )
        rate = _CTX.divide(rs.rates[t], rs.rates[f])
    applied = _CTX.multiply(rate, _CTX.divide(Decimal(10_000 - markup_bps), Decimal(10_000)))
    recorded = _CTX.plus(Context(prec=RECORDED_DIGITS, rounding=ROUND_HALF_UP).plus(applied))
    major = Decimal(amount).scaleb(-src.amount_exponent)
    minor = _CTX.multiply(major, recorded).scaleb(dst.amount_exponent)
    # One rounding, straight to the currency's step (rounding to 1 first, then to the step,
    # would round twice: 804.85 -> 805 -> 810 instead of 800).
    step = dst.amount_step
    out = int(_CTX.divide(minor, Decimal(step)).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * step
    return Conversion(out, t, amount, f, recorded, rs.day, markup_bps)
