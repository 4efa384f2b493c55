"""Payments that settle in another currency: the posting rules' foreign-exchange legs.

A merchant with a settlement currency (``merchants.settlement_currency``) is paid in it; a
payment in another (presentment) currency is recorded on its intent with that settlement
currency, and its events carry it (``payments.common.SETTLEMENT_CURRENCY``). For such a
payment the posting rules write, each transfer in one currency only:

==============================  ===============================================  ==========
transfer                        accounts                                          currency
==============================  ===============================================  ==========
``sb.pi_….authorization``       gateway_receivable → fx (pending)                 presentment
``sb.pi_….capture``             gateway_receivable → fx                           presentment
``sb.pi_….conversion``          fx → merchant_pending, the converted amount       settlement
``sb.pi_….fee``                 merchant_pending → fees, on the converted amount  settlement
``sb.re_….refund``              fx → refunds (pending, then posted or voided)     presentment
``sb.re_….refund.conversion``   merchant_pending → fx (pending, then posted or    settlement
                                voided with ``….post`` / ``….void``)
==============================  ===============================================  ==========

so the presentment currency balances through ``fx`` in that currency, the settlement
currency through ``fx`` in its own, and the merchant's balance moves only in the settlement
currency. The conversion is the merchant's ``charge`` balance transaction (the refund's
conversion, its ``refund`` one); its metadata records both amounts, the rate, the rate's
publication day, its source and the markup. The rate is the one current at capture (for a
refund: at the refund), read through the rates cache, never from the rate source.

No rate for the pair at capture (rates never loaded, a currency the source does not
publish): the conversion leg moves the presentment amount from ``fx`` to the merchant's
balance in the presentment currency instead, with ``conversion: unavailable`` in its
metadata and a warning in the log; a capture the gateway has made is never refused for want
of a rate. Its refunds then do not convert either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strongbox.db.uow import UnitOfWork
from strongbox.events.types import DomainEvent
from strongbox.ledger.transfers import RESERVED_PREFIX, Transfer

#: The event fact naming the settlement currency (payments.common.SETTLEMENT_CURRENCY).
SETTLEMENT_CURRENCY = "settlement_currency"


@dataclass(frozen=True, slots=True)
class Converted:
    """An amount converted at a recorded rate (what ``fx.service.convert`` answers)."""

    amount: int  # in the settlement currency's minor units
    rate: str  # the applied rate, markup included, as recorded (decimal text)
    rate_date: str  # ISO day the source published it
    source: str  # the rate source, e.g. "ecb"
    markup_bps: int


#: ``(uow, amount, from_currency, to_currency) -> Converted | None`` (None: no rate).
Converter = Callable[[UnitOfWork, int, str, str], "Converted | None"]


def conversion_id(pi_id: str) -> str:
    return f"{RESERVED_PREFIX}{pi_id}.conversion"


def refund_conversion_id(re_id: str) -> str:
    return f"{RESERVED_PREFIX}{re_id}.refund.conversion"


def refund_conversion_post_id(re_id: str) -> str:
    return f"{RESERVED_PREFIX}{re_id}.refund.conversion.post"


def refund_conversion_void_id(re_id: str) -> str:
    return f"{RESERVED_PREFIX}{re_id}.refund.conversion.void"


def settlement_currency(event: DomainEvent, currency: str) -> str | None:
    """The other currency this payment settles in, or None (settles in its own)."""
    value = event.extra.get(SETTLEMENT_CURRENCY)
    if not isinstance(value, str) or not value or value.lower() == currency:
        return None
    return value.lower()


def metadata(
    presentment_amount: int, presentment_currency: str, conv: Converted | None
) -> dict[str, Any]:
    """What the conversion leg records: both amounts, the rate, its day, source and markup."""
    base: dict[str, Any] = {
        "presentment_amount": presentment_amount,
        "presentment_currency": presentment_currency,
    }
    if conv is None:
        return {**base, "conversion": "unavailable"}
    return {
        **base,
        "exchange_rate": conv.rate,
        "exchange_rate_date": conv.rate_date,
        "exchange_rate_source": conv.source,
        "markup_bps": conv.markup_bps,
    }


def converted_currency(leg: Transfer | None, presentment_currency: str) -> str | None:
    """The settlement currency a payment's conversion leg actually used (None: not converted,
    or converted into its own currency for want of a rate)."""
    if leg is None or leg.currency == presentment_currency:
        return None
    return leg.currency


__all__ = [
    "SETTLEMENT_CURRENCY",
    "Converted",
    "Converter",
    "conversion_id",
    "converted_currency",
    "metadata",
    "refund_conversion_id",
    "refund_conversion_post_id",
    "refund_conversion_void_id",
    "settlement_currency",
]
