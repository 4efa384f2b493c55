"""ISO 4217 currencies plus the Stripe rules that decide how API amounts are read.

The table is ISO 4217 list one ("current currency & funds code list"), edition published
2026-01-01, transcribed from the ISO XML as shipped in the ``iso4217`` PyPI package
(1.16.20260101). It is kept here as plain data so that ``core`` has no third-party dependency.
Entries whose minor unit ISO gives as "N.A." (precious metals XAU/XAG/XPD/XPT, the bond-market
units XBA-XBD, XDR, XSU, XUA, and the testing/no-currency codes XTS/XXX) are left out: they
have no minor unit and nobody pays in them. Withdrawn codes (HRK, SLL, ANG, CUC, and BGN, which
ISO dropped on 2026-01-01 when Bulgaria adopted the euro) are not in the table.

Two exponents matter and they are not always the same:

* ``Currency.exponent`` is ISO's minor-unit exponent (JPY 0, USD 2, KWD 3, CLF 4, ISK 0).
* ``Currency.amount_exponent`` is the exponent of the integer ``amount`` in our (Stripe's) API.
  Stripe's zero-decimal currencies use 0 (MGA too, although ISO says 2), its three-decimal
  currencies use 3, ISK keeps Stripe's backward-compatible 2 (``100`` is one krona), and every
  other currency uses its ISO exponent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: ISO 4217 list one, 2026-01-01: (alphabetic code, numeric code, minor-unit exponent, name).
_ISO_4217: tuple[tuple[str, str, int, str], ...] = (
    ("AED", "784", 2, "UAE Dirham"),
    ("AFN", "971", 2, "Afghani"),
    ("ALL", "008", 2, "Lek"),
    ("AMD", "051", 2, "Armenian Dram"),
    ("AOA", "973", 2, "Kwanza"),
    ("ARS", "032", 2, "Argentine Peso"),
    ("AUD", "036", 2, "Australian Dollar"),
    ("AWG", "533", 2, "Aruban Florin"),
    ("AZN", "944", 2, "Azerbaijan Manat"),
    ("BAM", "977", 2, "Convertible Mark"),
    ("BBD", "052", 2, "Barbados Dollar"),
    ("BDT", "050", 2, "Taka"),
    ("BHD", "048", 3, "Bahraini Dinar"),
    ("BIF", "108", 0, "Burundi Franc"),
    ("BMD", "060", 2, "Bermudian Dollar"),
    ("BND", "096", 2, "Brunei Dollar"),
    ("BOB", "068", 2, "Boliviano"),
    ("BOV", "984", 2, "Mvdol"),
    ("BRL", "986", 2, "Brazilian Real"),
    ("BSD", "044", 2, "Bahamian Dollar"),
    ("BTN", "064", 2, "Ngultrum"),
    ("BWP", "072", 2, "Pula"),
    ("BYN", "933", 2, "Belarusian Ruble"),
    ("BZD", "084", 2, "Belize Dollar"),
    ("CAD", "124", 2, "Canadian Dollar"),
    ("CDF", "976", 2, "Congolese Franc"),
    ("CHE", "947", 2, "WIR Euro"),
    ("CHF", "756", 2, "Swiss Franc"),
    ("CHW", "948", 2, "WIR Franc"),
    ("CLF", "990", 4, "Unidad de Fomento"),
    ("CLP", "152", 0, "Chilean Peso"),
    ("CNY", "156", 2, "Yuan Renminbi"),
    ("COP", "170", 2, "Colombian Peso"),
    ("COU", "970", 2, "Unidad de Valor Real"),
    ("CRC", "188", 2, "Costa Rican Colon"),
    ("CUP", "192", 2, "Cuban Peso"),
    ("CVE", "132", 2, "Cabo Verde Escudo"),
    ("CZK", "203", 2, "Czech Koruna"),
    ("DJF", "262", 0, "Djibouti Franc"),
    ("DKK", "208", 2, "Danish Krone"),
    ("DOP", "214", 2, "Dominican Peso"),
    ("DZD", "012", 2, "Algerian Dinar"),
    ("EGP", "818", 2, "Egyptian Pound"),
    ("ERN", "232", 2, "Nakfa"),
    ("ETB", "230", 2, "Ethiopian Birr"),
    ("EUR", "978", 2, "Euro"),
    ("FJD", "242", 2, "Fiji Dollar"),
    ("FKP", "238", 2, "Falkland Islands Pound"),
    ("GBP", "826", 2, "Pound Sterling"),
    ("GEL", "981", 2, "Lari"),
    ("GHS", "936", 2, "Ghana Cedi"),
    ("GIP", "292", 2, "Gibraltar Pound"),
    ("GMD", "270", 2, "Dalasi"),
    ("GNF", "324", 0, "Guinean Franc"),
    ("GTQ", "320", 2, "Quetzal"),
    ("GYD", "328", 2, "Guyana Dollar"),
    ("HKD", "344", 2, "Hong Kong Dollar"),
    ("HNL", "340", 2, "Lempira"),
    ("HTG", "332", 2, "Gourde"),
    ("HUF", "348", 2, "Forint"),
    ("IDR", "360", 2, "Rupiah"),
    ("ILS", "376", 2, "New Israeli Sheqel"),
    ("INR", "356", 2, "Indian Rupee"),
    ("IQD", "368", 3, "Iraqi Dinar"),
    ("IRR", "364", 2, "Iranian Rial"),
    ("ISK", "352", 0, "Iceland Krona"),
    ("JMD", "388", 2, "Jamaican Dollar"),
    ("JOD", "400", 3, "Jordanian Dinar"),
    ("JPY", "392", 0, "Yen"),
    ("KES", "404", 2, "Kenyan Shilling"),
    ("KGS", "417", 2, "Som"),
    ("KHR", "116", 2, "Riel"),
    ("KMF", "174", 0, "Comorian Franc"),
    ("KPW", "408", 2, "North Korean Won"),
    ("KRW", "410", 0, "Won"),
    ("KWD", "414", 3, "Kuwaiti Dinar"),
    ("KYD", "136", 2, "Cayman Islands Dollar"),
    ("KZT", "398", 2, "Tenge"),
    ("LAK", "418", 2, "Lao Kip"),
    ("LBP", "422", 2, "Lebanese Pound"),
    ("LKR", "144", 2, "Sri Lanka Rupee"),
    ("LRD", "430", 2, "Liberian Dollar"),
    ("LSL", "426", 2, "Loti"),
    ("LYD", "434", 3, "Libyan Dinar"),
    ("MAD", "504", 2, "Moroccan Dirham"),
    ("MDL", "498", 2, "Moldovan Leu"),
    ("MGA", "969", 2, "Malagasy Ariary"),
    ("MKD", "807", 2, "Denar"),
    ("MMK", "104", 2, "Kyat"),
    ("MNT", "496", 2, "Tugrik"),
    ("MOP", "446", 2, "Pataca"),
    ("MRU", "929", 2, "Ouguiya"),
    ("MUR", "480", 2, "Mauritius Rupee"),
    ("MVR", "462", 2, "Rufiyaa"),
    ("MWK", "454", 2, "Malawi Kwacha"),
    ("MXN", "484", 2, "Mexican Peso"),
    ("MXV", "979", 2, "Mexican Unidad de Inversion (UDI)"),
    ("MYR", "458", 2, "Malaysian Ringgit"),
    ("MZN", "943", 2, "Mozambique Metical"),
    ("NAD", "516", 2, "Namibia Dollar"),
    ("NGN", "566", 2, "Naira"),
    ("NIO", "558", 2, "Cordoba Oro"),
    ("NOK", "578", 2, "Norwegian Krone"),
    ("NPR", "524", 2, "Nepalese Rupee"),
    ("NZD", "554", 2, "New Zealand Dollar"),
    ("OMR", "512", 3, "Rial Omani"),
    ("PAB", "590", 2, "Balboa"),
    ("PEN", "604", 2, "Sol"),
    ("PGK", "598", 2, "Kina"),
    ("PHP", "608", 2, "Philippine Peso"),
    ("PKR", "586", 2, "Pakistan Rupee"),
    ("PLN", "985", 2, "Zloty"),
    ("PYG", "600", 0, "Guarani"),
    ("QAR", "634", 2, "Qatari Rial"),
    ("RON", "946", 2, "Romanian Leu"),
    ("RSD", "941", 2, "Serbian Dinar"),
    ("RUB", "643", 2, "Russian Ruble"),
    ("RWF", "646", 0, "Rwanda Franc"),
    ("SAR", "682", 2, "Saudi Riyal"),
    ("SBD", "090", 2, "Solomon Islands Dollar"),
    ("SCR", "690", 2, "Seychelles Rupee"),
    ("SDG", "938", 2, "Sudanese Pound"),
    ("SEK", "752", 2, "Swedish Krona"),
    ("SGD", "702", 2, "Singapore Dollar"),
    ("SHP", "654", 2, "Saint Helena Pound"),
    ("SLE", "925", 2, "Leone"),
    ("SOS", "706", 2, "Somali Shilling"),
    ("SRD", "968", 2, "Surinam Dollar"),
    ("SSP", "728", 2, "South Sudanese Pound"),
    ("STN", "930", 2, "Dobra"),
    ("SVC", "222", 2, "El Salvador Colon"),
    ("SYP", "760", 2, "Syrian Pound"),
    ("SZL", "748", 2, "Lilangeni"),
    ("THB", "764", 2, "Baht"),
    ("TJS", "972", 2, "Somoni"),
    ("TMT", "934", 2, "Turkmenistan New Manat"),
    ("TND", "788", 3, "Tunisian Dinar"),
    ("TOP", "776", 2, "Pa\u2019anga"),
    ("TRY", "949", 2, "Turkish Lira"),
    ("TTD", "780", 2, "Trinidad and Tobago Dollar"),
    ("TWD", "901", 2, "New Taiwan Dollar"),
    ("TZS", "834", 2, "Tanzanian Shilling"),
    ("UAH", "980", 2, "Hryvnia"),
    ("UGX", "800", 0, "Uganda Shilling"),
    ("USD", "840", 2, "US Dollar"),
    ("USN", "997", 2, "US Dollar (Next day)"),
    ("UYI", "940", 0, "Uruguay Peso en Unidades Indexadas (UI)"),
    ("UYU", "858", 2, "Peso Uruguayo"),
    ("UYW", "927", 4, "Unidad Previsional"),
    ("UZS", "860", 2, "Uzbekistan Sum"),
    ("VED", "926", 2, "Bolívar Soberano"),
    ("VES", "928", 2, "Bolívar Soberano"),
    ("VND", "704", 0, "Dong"),
    ("VUV", "548", 0, "Vatu"),
    ("WST", "882", 2, "Tala"),
    ("XAD", "396", 2, "Arab Accounting Dinar"),
    ("XAF", "950", 0, "CFA Franc BEAC"),
    ("XCD", "951", 2, "East Caribbean Dollar"),
    ("XCG", "532", 2, "Caribbean Guilder"),
    ("XOF", "952", 0, "CFA Franc BCEAO"),
    ("XPF", "953", 0, "CFP Franc"),
    ("YER", "886", 2, "Yemeni Rial"),
    ("ZAR", "710", 2, "Rand"),
    ("ZMW", "967", 2, "Zambian Kwacha"),
    ("ZWG", "924", 2, "Zimbabwe Gold"),
)

#: Stripe's zero-decimal currencies: ``amount`` is in whole units (``500`` JPY is ¥500).
STRIPE_ZERO_DECIMAL: frozenset[str] = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip

#: Stripe's three-decimal currencies: ``amount`` is in thousandths and its last digit must be 0.
STRIPE_THREE_DECIMAL: frozenset[str] = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

#: Currencies that Stripe's API keeps at two decimals although ISO's exponent is 0, and whose
#: amounts must therefore be whole units (a multiple of 100). Since 2023-04-14 this is ISK.
STRIPE_TWO_DECIMAL_WHOLE_UNITS: frozenset[str] = frozenset({"ISK"})

#: Stripe's minimum charge amounts, in the currency's API minor unit, keyed by settlement
#: currency. Currencies not listed have a minimum of one chargeable minor unit (see
#: ``Currency.minimum_amount``). BGN is kept as Stripe publishes it, but ISO withdrew BGN on
#: 2026-01-01, so ``get_currency("BGN")`` is ``None`` and the entry is never reached.
STRIPE_MINIMUM_AMOUNTS: Mapping[str, int] = MappingProxyType(
    {
        "USD": 50,
        "AED": 200,
        "AUD": 50,
        "BGN": 100,
        "BRL": 50,
        "CAD": 50,
        "CHF": 50,
        "CZK": 1500,
        "DKK": 250,
        "EUR": 50,
        "GBP": 30,
        "HKD": 400,
        "HUF": 17500,
        "INR": 50,
        "JPY": 50,
        "MXN": 1000,
        "MYR": 200,
        "NOK": 300,
        "NZD": 50,
        "PLN": 200,
        "RON": 200,
        "SEK": 300,
        "SGD": 50,
        "THB": 1000,
    }
)


@dataclass(frozen=True, slots=True)
class Currency:
    """One ISO 4217 currency and the Stripe rules for amounts in it."""

    code: str
    """Alphabetic code, upper case (``"USD"``)."""
    numeric: str
    """Three-digit numeric code as a string, leading zeros kept (``"008"`` for ALL)."""
    exponent: int
    """ISO 4217 minor-unit exponent."""
    name: str
    """ISO 4217 currency name."""

    @property
    def zero_decimal(self) -> bool:
        """In Stripe's zero-decimal list: amounts are whole units."""
        return self.code in STRIPE_ZERO_DECIMAL

    @property
    def three_decimal(self) -> bool:
        """In Stripe's three-decimal list: amounts are thousandths ending in 0."""
        return self.code in STRIPE_THREE_DECIMAL

    @property
    def amount_exponent(self) -> int:
        """Exponent of API amounts: ``amount / 10**amount_exponent`` is the value in units."""
        if self.code in STRIPE_ZERO_DECIMAL:
            return 0
        if self.code in STRIPE_THREE_DECIMAL:
            return 3
        if self.code in STRIPE_TWO_DECIMAL_WHOLE_UNITS:
            return 2
        return self.exponent

    @property
    def amount_step(self) -> int:
        """Every charge, capture or refund amount must be a multiple of this.

        10 for Stripe's three-decimal currencies (last digit 0), 100 for ISK (whole krónur in a
        two-decimal representation), 1 otherwise.
        """
        if self.code in STRIPE_THREE_DECIMAL:
            return 10
        if self.code in STRIPE_TWO_DECIMAL_WHOLE_UNITS:
            return 100
        return 1

    @property
    def minimum_amount(self) -> int:
        """Smallest amount a payment may have, in API minor units.

        Stripe's published minimum for the currency if it has one, else the smallest amount
        that is valid at all: one minor unit, or ``amount_step`` where that is larger.
        """
        return STRIPE_MINIMUM_AMOUNTS.get(self.code, self.amount_step)


_BY_CODE: Mapping[str, Currency] = MappingProxyType(
    {code: Currency(code, numeric, exponent, name) for code, numeric, exponent, name in _ISO_4217}
)


def get_currency(code: str) -> Currency | None:
    """The currency for an alphabetic code in any letter case, or ``None`` if there is none."""
    if not isinstance(code, str) or len(code) != 3 or not code.isascii():
        return None
    return _BY_CODE.get(code.upper())


def all_currencies() -> list[Currency]:
    """Every currency in the table, sorted by code (a new list each call)."""
    return sorted(_BY_CODE.values(), key=lambda currency: currency.code)
