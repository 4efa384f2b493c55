"""Money: an integer amount in a currency's API minor unit plus an ISO 4217 code. Never float.

Two halves:

* Request validation (``parse_currency``, ``validate_amount``, ``validate_partial_amount``)
  raises ``InvalidRequestError`` with Stripe-style ``code`` and the offending ``param``.
* ``Money`` is the value type for the rest of the code: exact integer arithmetic within one
  currency, exact allocation, exact conversion to and from ``Decimal``.

"Minor unit" always means the unit of Stripe's API ``amount`` (``Currency.amount_exponent``):
cents for USD, yen for JPY, ariary for MGA, fils (thousandths) for KWD, hundredths for ISK.

Error messages never echo arbitrary client input (a card number pasted into the wrong field
must not end up in a response or a log line); only values that look like a currency code are
repeated back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from strongbox.core.currencies import Currency, all_currencies, get_currency
from strongbox.core.errors import InvalidRequestError

__all__ = [
    "MAX_AMOUNT",
    "CurrencyMismatchError",
    "Money",
    "format_amount",
    "parse_currency",
    "validate_amount",
    "validate_partial_amount",
]

#: Stripe's largest ``amount``: eight digits, in minor units, for every currency.
MAX_AMOUNT = 99_999_999

# Symbols used in Stripe-style "Amount must be at least $0.50 usd" messages. Currencies without
# an entry are shown by number and code only ("Amount must be at least 4.00 hkd").
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}

# Only input that looks like a currency code is echoed back in messages.
_ECHOABLE = re.compile(r"[A-Za-z]{1,10}")

# ``Money.from_decimal`` refuses values whose integer amount would need more digits than this,
# so that "1E999999999" cannot make us build a billion-digit integer.
_MAX_DECIMAL_DIGITS = 40


class CurrencyMismatchError(ValueError):
    """Arithmetic or comparison between amounts in different currencies."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(f"Cannot combine amounts in different currencies: {left} and {right}")
        self.left = left
        self.right = right


# --------------------------------------------------------------------------------------------
# Request validation
# --------------------------------------------------------------------------------------------


def parse_currency(value: object, param: str = "currency") -> Currency:
    """The currency named by a request parameter, in any letter case.

    Raises ``InvalidRequestError`` (``param`` set) with code ``parameter_invalid_string`` if the
    value is not a string, ``parameter_invalid_empty`` if it is empty, and ``invalid_currency``
    if no currency has that code.
    """
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"Invalid string: {param} must be a three-letter ISO currency code.",
            code="parameter_invalid_string",
            param=param,
        )
    if value == "":
        raise InvalidRequestError(
            f"You passed an empty string for '{param}'. We assume empty values are an attempt "
            f"to unset a parameter; however '{param}' cannot be unset. You should remove "
            f"'{param}' from your request or supply a non-empty value.",
            code="parameter_invalid_empty",
            param=param,
        )
    currency = get_currency(value)
    if currency is None:
        shown = value.lower() if _ECHOABLE.fullmatch(value) else "(not a currency code)"
        supported = ", ".join(c.code.lower() for c in all_currencies())
        raise InvalidRequestError(
            f"Invalid currency: {shown}. Strongbox currently supports these currencies: "
            f"{supported}.",
            code="invalid_currency",
            param=param,
        )
    return currency


def format_amount(amount: int, currency: Currency) -> str:
    """An amount for messages in Stripe's style: ``$0.50 usd``, ``¥50 jpy``, ``0.010 kwd``."""
    symbol = _SYMBOLS.get(currency.code, "")
    value = _to_decimal(amount, currency.amount_exponent)
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,f} {currency.code.lower()}"


def _require_int(amount: object, param: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidRequestError(
            f"Invalid integer: {param} must be a whole number of the currency's smallest unit.",
            code="parameter_invalid_integer",
            param=param,
        )
    if amount < 0:
        raise InvalidRequestError(
            f"Invalid positive integer: {param} cannot be negative.",
            code="parameter_invalid_integer",
            param=param,
        )
    return int(amount)


def _check_range_and_step(amount: int, minimum: int, currency: Currency, param: str) -> int:
    if amount < minimum:
        raise InvalidRequestError(
            f"Amount must be at least {format_amount(minimum, currency)}",
            code="amount_too_small",
            param=param,
        )
    step = currency.amount_step
    if amount > MAX_AMOUNT:
        largest = MAX_AMOUNT - MAX_AMOUNT % step
        raise InvalidRequestError(
            f"Amount must be no more than {format_amount(largest, currency)}",
            code="amount_too_large",
            param=param,
        )
    if amount % step:
        if currency.three_decimal:
            message = (
                f"Invalid amount: {currency.code} is a three-decimal currency and amounts must "
                f"end in 0 (a multiple of 10), e.g. {amount - amount % step}."
            )
            code = "invalid_charge_amount"
        else:
            message = (
                f"Invalid amount. Currency {currency.code} has become effectively zero-decimal "
                f"and amounts must be evenly divisible by {step}."
            )
            code = "invalid_charge_amount_no_decimal_compatible"
        raise InvalidRequestError(message, code=code, param=param)
    return amount


def validate_amount(
    amount: object, currency: Currency, param: str = "amount", *, allow_zero: bool = False
) -> int:
    """Check a payment amount (PaymentIntent ``amount``) and return it as an ``int``.

    Error codes, all with ``param`` set:

    * ``parameter_invalid_integer``: not an ``int`` (``bool``, ``float``, ``str`` ... all
      rejected) or negative;
    * ``amount_too_small``: below ``currency.minimum_amount`` (zero too, unless ``allow_zero``);
    * ``amount_too_large``: above ``MAX_AMOUNT``;
    * ``invalid_charge_amount``: a three-decimal currency amount whose last digit is not 0;
    * ``invalid_charge_amount_no_decimal_compatible``: an ISK amount not a multiple of 100.
    """
    value = _require_int(amount, param)
    if value == 0 and allow_zero:
        return 0
    return _check_range_and_step(value, currency.minimum_amount, currency, param)


def validate_partial_amount(amount: object, currency: Currency, param: str = "amount") -> int:
    """Check a capture or refund amount: like ``validate_amount`` without the currency minimum.

    The smallest accepted amount is ``currency.amount_step`` (1, or 10 for three-decimal
    currencies, 100 for ISK); codes are those of ``validate_amount``.
    """
    value = _require_int(amount, param)
    return _check_range_and_step(value, currency.amount_step, currency, param)


# --------------------------------------------------------------------------------------------
# Money
# --------------------------------------------------------------------------------------------


def _to_decimal(amount: int, exponent: int) -> Decimal:
    # Built from a string so the result is exact whatever the decimal context's precision.
    return Decimal(f"{amount}E-{exponent}")


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency: ``Money(1050, "USD")`` is 10.50 USD.

    ``amount`` is an ``int`` in the currency's API minor unit (``bool`` and ``float`` raise
    ``TypeError``) and may be negative or exceed ``MAX_AMOUNT``: request limits belong to the
    validators above, not to the value type. ``currency`` is normalised to upper case; an
    unknown code raises ``ValueError``. Arithmetic and ordering across currencies raise
    ``CurrencyMismatchError``; ``==`` across currencies is simply ``False``.
    """

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Money amount must be an int, not {type(self.amount).__name__}")
        if not isinstance(self.currency, str):
            raise TypeError(f"Money currency must be a str, not {type(self.currency).__name__}")
        info = get_currency(self.currency)
        if info is None:
            raise ValueError(f"Unknown currency code: {self.currency!r}")
        # Normalise int subclasses (IntEnum ...) and letter case so equality and hashing are plain.
        object.__setattr__(self, "amount", int(self.amount))
        object.__setattr__(self, "currency", info.code)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str, currency: str) -> Money:
        """``Money.from_decimal("10.50", "USD") == Money(1050, "USD")``.

        Accepts a ``Decimal`` or a decimal string, never a ``float`` (``TypeError``). Raises
        ``ValueError`` for text that is not a number, NaN or infinity, a value finer than the
        currency's minor unit (``"1.234"`` USD, ``"1.5"`` JPY; trailing zeros are fine), or a
        value needing more than 40 digits.
        """
        if isinstance(value, str):
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise ValueError("Not a decimal number") from None
        elif isinstance(value, Decimal):
            number = value
        else:
            raise TypeError(f"from_decimal takes a Decimal or str, not {type(value).__name__}")
        if not number.is_finite():
            raise ValueError("Money cannot be NaN or infinite")
        if not isinstance(currency, str) or (info := get_currency(currency)) is None:
            raise ValueError(f"Unknown currency code: {currency!r}")

        sign, digits, exponent = number.as_tuple()
        assert isinstance(exponent, int)  # finite, so never 'n', 'N' or 'F'
        coefficient = int("".join(map(str, digits)))
        shift = exponent + info.amount_exponent  # amount = coefficient * 10**shift
        if coefficient == 0:
            amount = 0
        elif shift >= 0:
            if len(digits) + shift > _MAX_DECIMAL_DIGITS:
                raise ValueError("Amount is too large")
            amount = coefficient * 10**shift
        else:
            # A non-zero coefficient with k digits is never divisible by 10**m for m > k.
            if -shift > len(digits) or coefficient % 10**-shift:
                raise ValueError(
                    f"{number} has more decimal places than {info.code} allows "
                    f"({info.amount_exponent})"
                )
            amount = coefficient // 10**-shift
        return cls(-amount if sign else amount, info.code)

    # -- queries -------------------------------------------------------------------------------

    @property
    def currency_info(self) -> Currency:
        info = get_currency(self.currency)
        assert info is not None  # checked in __post_init__
        return info

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def to_decimal(self) -> Decimal:
        """The value in major units, exactly: ``Money(1050, "USD")`` gives ``Decimal("10.50")``."""
        return _to_decimal(self.amount, self.currency_info.amount_exponent)

    def format(self) -> str:
        """``"10.00 USD"``, ``"1000 JPY"``, ``"1.234 BHD"``, ``"-0.05 EUR"``."""
        return f"{self.to_decimal():f} {self.currency}"

    def __str__(self) -> str:
        return self.format()

    # -- arithmetic ----------------------------------------------------------------------------

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount >= other.amount

    def allocate(self, ratios: list[int]) -> list[Money]:
        """Split into parts proportional to ``ratios`` that sum exactly to ``self``.

        Largest-remainder method: each part gets the floor of its exact share, then the units
        left over go one each to the parts with the largest fractional remainders (ties to the
        earlier part). A part with ratio 0 gets 0; with equal ratios, parts differ by at most one
        minor unit. Negative amounts are split like their absolute value, then negated.
        Ratios must be non-negative ``int``s with a positive sum (``ValueError``/``TypeError``).
        """
        if not ratios:
            raise ValueError("allocate needs at least one ratio")
        for ratio in ratios:
            if isinstance(ratio, bool) or not isinstance(ratio, int):
                raise TypeError(f"Ratios must be ints, not {type(ratio).__name__}")
            if ratio < 0:
                raise ValueError("Ratios cannot be negative")
        total = sum(ratios)
        if total == 0:
            raise ValueError("Ratios must not all be zero")

        magnitude = abs(self.amount)
        shares = [divmod(magnitude * ratio, total) for ratio in ratios]
        parts = [quotient for quotient, _ in shares]
        left_over = magnitude - sum(parts)
        by_remainder = sorted(range(len(ratios)), key=lambda i: (-shares[i][1], i))
        for index in by_remainder[:left_over]:
            parts[index] += 1
        sign = -1 if self.amount < 0 else 1
        return [Money(sign * part, self.currency) for part in parts]
