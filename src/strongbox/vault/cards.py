"""Card number rules: brand from IIN ranges, Luhn, lengths, CVC lengths, expiry, a BIN table.

Errors use Stripe's codes and are ``card_error`` (HTTP 402) with ``param`` in bracket
notation (``card[number]``). Messages never contain the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from strongbox.core.errors import CardError
from strongbox.core.luhn import luhn_valid
from strongbox.core.secret import Secret


@dataclass(frozen=True, slots=True)
class Brand:
    brand: str  # Stripe's ``card.brand``
    display: str  # Stripe's ``card.display_brand``
    lengths: tuple[int, ...]
    cvc_lengths: tuple[int, ...]
    luhn: bool = True


VISA = Brand("visa", "visa", (13, 16, 19), (3,))
MASTERCARD = Brand("mastercard", "mastercard", (16,), (3,))
MAESTRO = Brand("mastercard", "mastercard", tuple(range(12, 20)), (3,))
AMEX = Brand("amex", "american_express", (15,), (4,))
DISCOVER = Brand("discover", "discover", tuple(range(16, 20)), (3,))
DINERS = Brand("diners", "diners_club", tuple(range(14, 20)), (3,))
JCB = Brand("jcb", "jcb", tuple(range(16, 20)), (3,))
# UnionPay numbers are not all Luhn-valid; issuers rely on the network check instead.
UNIONPAY = Brand("unionpay", "union_pay", tuple(range(16, 20)), (3,), luhn=False)
UNKNOWN = Brand("unknown", "unknown", tuple(range(12, 20)), (3, 4))

#: Stripe's ``card.brand`` words for the brands Strongbox knows (``unknown`` aside).
BRANDS = frozenset(b.brand for b in (VISA, MASTERCARD, AMEX, DISCOVER, DINERS, JCB, UNIONPAY))

# (low, high, brand) over the leading digits, compared at the width of ``low``. Checked in
# order, so narrower ranges inside wider ones come first (Discover inside UnionPay's 62).
_RANGES: tuple[tuple[str, str, Brand], ...] = (
    ("34", "34", AMEX),
    ("37", "37", AMEX),
    ("300", "305", DINERS),
    ("309", "309", DINERS),
    ("36", "36", DINERS),
    ("38", "39", DINERS),
    ("3528", "3589", JCB),
    ("6011", "6011", DISCOVER),
    ("622126", "622925", DISCOVER),
    ("644", "649", DISCOVER),
    ("65", "65", DISCOVER),
    ("62", "62", UNIONPAY),
    ("81", "81", UNIONPAY),
    ("2221", "2720", MASTERCARD),
    ("51", "55", MASTERCARD),
    ("6304", "6304", MAESTRO),
    ("6759", "6759", MAESTRO),
    ("676770", "676770", MAESTRO),
    ("676774", "676774", MAESTRO),
    ("50", "50", MAESTRO),
    ("56", "58", MAESTRO),
    ("639", "639", MAESTRO),
    ("67", "67", MAESTRO),
    ("4", "4", VISA),
)


_DISPLAY = {b.brand: b.display for b in (VISA, MASTERCARD, AMEX, DISCOVER, DINERS, JCB, UNIONPAY)}


def display_brand(brand: str) -> str:
    """Stripe's ``card.display_brand`` for a ``card.brand``."""
    return _DISPLAY.get(brand, "other")


# The ranges as 8-digit integer bounds, bucketed by the first digit.
_BUCKETS: dict[str, list[tuple[int, int, Brand]]] = {}
for _low, _high, _brand in _RANGES:
    _BUCKETS.setdefault(_low[0], []).append(
        (int(_low.ljust(8, "0")), int(_high.ljust(8, "9")), _brand)
    )


def brand_of(pan: str) -> Brand:
    head = int(pan[:8].ljust(8, "0"))
    for low, high, brand in _BUCKETS.get(pan[:1], ()):
        if low <= head <= high:
            return brand
    return UNKNOWN


# Each digit doubled, with the digits of the result summed (Luhn): as a translation table.
# Issuer country and funding for well-known BINs, including Stripe's public test cards.
# Longest prefix wins. Unknown BINs report funding "unknown" and no country.
_BINS: dict[str, tuple[str, str]] = {
    "424242": ("US", "credit"),
    "40000566": ("US", "debit"),
    "4000000000": ("US", "credit"),
    "4000002760": ("DE", "credit"),
    "4000002500": ("FR", "credit"),
    "4000008260": ("GB", "credit"),
    "4000001240": ("CA", "credit"),
    "4000000760": ("BR", "credit"),
    "555555": ("US", "credit"),
    "22230031": ("US", "credit"),
    "52008282": ("US", "debit"),
    "51051051": ("US", "prepaid"),
    "378282": ("US", "credit"),
    "371449": ("US", "credit"),
    "601111": ("US", "credit"),
    "601100": ("US", "debit"),
    "305693": ("US", "credit"),
    "362272": ("US", "credit"),
    "356600": ("JP", "credit"),
    "620000": ("CN", "credit"),
}
_BIN_LENGTHS = sorted({len(k) for k in _BINS}, reverse=True)


def bin_info(pan: str) -> tuple[str | None, str]:
    for n in _BIN_LENGTHS:
        hit = _BINS.get(pan[:n])
        if hit is not None:
            return hit
    return None, "unknown"


@dataclass(slots=True)  # not frozen: built once per tokenization, on the hot path
class ValidCard:
    """A card that passed every check. ``pan`` and ``cvc`` stay ``Secret``."""

    pan: Secret[str]
    cvc: Secret[str] | None
    exp_month: int
    exp_year: int
    brand: Brand
    country: str | None
    funding: str
    last4: str


def _card_error(message: str, code: str, param: str) -> CardError:
    return CardError(message, code=code, param=f"card[{param}]")


def validate_card(
    number: Secret[str], exp_month: int, exp_year: int, cvc: Secret[str] | None, now: datetime
) -> ValidCard:
    pan = number.reveal().replace(" ", "")
    if not pan.isascii() or not pan.isdigit():
        raise _card_error(
            "The card number is not a valid credit card number.", "invalid_number", "number"
        )
    brand = brand_of(pan)
    if len(pan) not in brand.lengths or (brand.luhn and not luhn_valid(pan)):
        raise _card_error("Your card number is incorrect.", "incorrect_number", "number")
    if not 1 <= exp_month <= 12:
        raise _card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month"
        )
    year = exp_year + 2000 if 0 <= exp_year < 100 else exp_year
    if year < now.year or year > now.year + 50:
        raise _card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", "exp_year"
        )
    if year == now.year and exp_month < now.month:
        raise _card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "exp_month"
        )
    if cvc is not None:
        c = cvc.reveal()
        if not (c.isascii() and c.isdigit() and len(c) in brand.cvc_lengths):
            raise _card_error("Your card's security code is invalid.", "invalid_cvc", "cvc")
    country, funding = bin_info(pan)
    return ValidCard(
        pan=Secret(pan),
        cvc=cvc,
        exp_month=exp_month,
        exp_year=year,
        brand=brand,
        country=country,
        funding=funding,
        last4=pan[-4:],
    )
