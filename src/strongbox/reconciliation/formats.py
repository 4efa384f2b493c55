"""Gateway settlement data in the gateways' own published formats, read into ``Line``s.

=============================  ==============================================================
format                         what it is
=============================  ==============================================================
``stripe_itemized``            Stripe's itemized balance change / payout reconciliation report
                               (CSV: ``balance_transaction_id``, ``created_utc``, ``currency``,
                               ``gross``, ``fee``, ``net``, ``reporting_category``,
                               ``source_id`` …; amounts in major units)
``stripe_balance_transactions``  Stripe's ``GET /v1/balance_transactions`` list (JSON; amounts
                               in minor units), as the API or a saved page returns it
``adyen_settlement_details``   Adyen's Settlement details report (CSV: ``Psp Reference``,
                               ``Creation Date``, ``TimeZone``, ``Type``, ``Gross Debit (GC)``,
                               ``Gross Credit (GC)``, ``Commission (NC)`` …)
``braintree_transactions``     Braintree's transaction search result (XML: a
                               ``<credit-card-transactions>`` collection of ``<transaction>``
                               with ``id``, ``type``, ``status``, ``amount``,
                               ``currency-iso-code``, ``created-at``,
                               ``refunded-transaction-id``; amounts in major units; no fee)
=============================  ==============================================================

Only payments and refunds are reconciled against Strongbox objects; other lines (payouts,
fees, transfers, chargebacks …) are counted as skipped. Amounts become integers in the
currency's minor unit (an amount finer than that is an error, never rounded); a refund's
amount is negative. A line that cannot be read refuses the whole file, naming the line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from strongbox.core.currencies import get_currency
from strongbox.core.errors import InvalidRequestError
from strongbox.core.money import Money

STRIPE_ITEMIZED: Final = "stripe_itemized"
STRIPE_API: Final = "stripe_balance_transactions"
ADYEN_SETTLEMENT: Final = "adyen_settlement_details"
BRAINTREE_SEARCH: Final = "braintree_transactions"
FORMATS: Final = (STRIPE_ITEMIZED, STRIPE_API, ADYEN_SETTLEMENT, BRAINTREE_SEARCH)

#: Amounts a line may carry (the ledger's largest transfer) and the years it may be dated.
MAX_LINE_AMOUNT: Final = 2**53 - 1
MIN_YEAR: Final = 1971
MAX_YEAR: Final = 9998

CHARGE: Final = "charge"
REFUND: Final = "refund"

_STRIPE_KINDS: Final = {"charge": CHARGE, "payment": CHARGE, "refund": REFUND}
_STRIPE_API_KINDS: Final = {
    "charge": CHARGE,
    "payment": CHARGE,
    "refund": REFUND,
    "payment_refund": REFUND,
}
_ADYEN_KINDS: Final = {"Settled": CHARGE, "SettledBulk": CHARGE, "Refunded": REFUND}
_ADYEN_FEES: Final = ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)")
_BRAINTREE_KINDS: Final = {"sale": CHARGE, "credit": REFUND}
#: Braintree statuses of money that moved (or is moving) at settlement.
_BRAINTREE_SETTLING: Final = frozenset(
    {
        "submitted_for_settlement",
        "settling",
        "settlement_pending",
        "settled",
        "settlement_confirmed",
    }
)


@dataclass(frozen=True, slots=True)
class Line:
    """One payment or refund as the gateway reports it."""

    line_no: int
    kind: str  # charge | refund
    occurred: datetime
    line_id: str | None  # the gateway's id of the line (balance transaction, modification)
    refs: tuple[str, ...]  # references that may name our object or its gateway reference
    amount: int  # minor units, signed: refunds negative
    fee: int | None  # minor units the gateway kept; None when unknown
    currency: str  # lower case
    description: str | None = None

    @property
    def day(self) -> str:
        return self.occurred.date().isoformat()


@dataclass(slots=True)
class Parsed:
    format: str
    lines: list[Line]
    skipped: int


def _error(message: str, line_no: int | None = None) -> InvalidRequestError:
    where = f"Line {line_no}: " if line_no is not None else ""
    return InvalidRequestError(where + message, code="report_invalid", param="report")


def _currency(value: str, line_no: int) -> str:
    info = get_currency(value.strip())
    if info is None:
        raise _error(f"unknown currency {value.strip()[:8]!r}.", line_no)
    return info.code.lower()


def _minor(value: str, currency: str, column: str, line_no: int) -> int:
    text = value.strip().replace(",", "") or "0"
    try:
        amount = Money.from_decimal(Decimal(text), currency).amount
    except (InvalidOperation, ValueError):
        raise _error(
            f"{column} {value.strip()[:32]!r} is not an amount in {currency.upper()}.", line_no
        ) from None
    if abs(amount) > MAX_LINE_AMOUNT:
        raise _error(f"{column} is larger than Strongbox's largest amount.", line_no)
    return amount


def _timestamp(value: str, tz: str | None, column: str, line_no: int) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _error(f"{column} {text[:32]!r} is not a date and time.", line_no) from None
    if parsed.tzinfo is None:
        zone: Any = UTC
        if tz and tz.strip() and tz.strip().upper() != "UTC":
            try:
                zone = ZoneInfo(tz.strip())
            except (ZoneInfoNotFoundError, ValueError):
                raise _error(f"unknown time zone {tz.strip()[:32]!r}.", line_no) from None
        parsed = parsed.replace(tzinfo=zone)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise _error(f"{column} {text[:32]!r} is out of range.", line_no)
    return parsed.astimezone(UTC)


def _rows(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise _error("the report is empty.") from None
    except csv.Error as exc:
        raise _error(f"not CSV ({exc}).", 1) from None

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                yield reader.line_num, dict(zip(header, row, strict=False))
        except csv.Error as exc:
            raise _error(f"not CSV ({exc}).", reader.line_num) from None

    return header, rows()


def _require(header: Iterable[str], columns: Iterable[str], fmt: str) -> None:
    missing = [c for c in columns if c not in set(header)]
    if missing:
        raise _error(f"a {fmt} report needs the column(s) {', '.join(missing)}.")


def parse_stripe_itemized(text: str) -> Parsed:
    header, rows = _rows(text)
    _require(
        header,
        ("balance_transaction_id", "currency", "gross", "fee", "reporting_category"),
        STRIPE_ITEMIZED,
    )
    created_col = "created_utc" if "created_utc" in header else "created"
    _require(header, (created_col,), STRIPE_ITEMIZED)
    lines: list[Line] = []
    skipped = 0
    for line_no, row in rows:
        kind = _STRIPE_KINDS.get(row.get("reporting_category", "").strip())
        if kind is None:
            skipped += 1
            continue
        cur = _currency(row.get("currency", ""), line_no)
        refs = tuple(
            v
            for v in (
                row.get("source_id", "").strip(),
                row.get("payment_intent_id", "").strip(),
                row.get("charge_id", "").strip(),
            )
            if v
        )
        lines.append(
            Line(
                line_no=line_no,
                kind=kind,
                occurred=_timestamp(row.get(created_col, ""), None, created_col, line_no),
                line_id=row.get("balance_transaction_id", "").strip()[:128] or None,
                refs=refs,
                amount=_minor(row.get("gross", ""), cur, "gross", line_no),
                fee=_minor(row.get("fee", ""), cur, "fee", line_no),
                currency=cur,
                description=(row.get("description") or "").strip()[:500] or None,
            )
        )
    return Parsed(STRIPE_ITEMIZED, lines, skipped)


def parse_adyen_settlement(text: str) -> Parsed:
    header, rows = _rows(text)
    _require(
        header,
        (
            "Psp Reference",
            "Creation Date",
            "Type",
            "Gross Currency",
            "Gross Debit (GC)",
            "Gross Credit (GC)",
        ),
        ADYEN_SETTLEMENT,
    )
    lines: list[Line] = []
    skipped = 0
    for line_no, row in rows:
        kind = _ADYEN_KINDS.get(row.get("Type", "").strip())
        if kind is None:
            skipped += 1
            continue
        cur = _currency(row.get("Gross Currency", ""), line_no)
        debit = _minor(row.get("Gross Debit (GC)", ""), cur, "Gross Debit (GC)", line_no)
        credit = _minor(row.get("Gross Credit (GC)", ""), cur, "Gross Credit (GC)", line_no)
        fee: int | None = None
        net_cur = (row.get("Net Currency") or "").strip()
        if net_cur and _currency(net_cur, line_no) == cur:
            fee = sum(_minor(row.get(c) or "", cur, c, line_no) for c in _ADYEN_FEES)
        psp = row.get("Psp Reference", "").strip()
        modification = (row.get("Modification Reference") or "").strip()
        merchant_ref = (row.get("Merchant Reference") or "").strip()
        if kind == REFUND:
            # The refund's own reference first; the payment's too (a refund may be known by
            # its payment's reference alone: the matcher then pairs by amount).
            refs = tuple(v for v in (modification, psp, merchant_ref) if v)
            line_id = modification or psp
        else:
            refs = tuple(v for v in (psp, merchant_ref) if v)
            line_id = psp
        lines.append(
            Line(
                line_no=line_no,
                kind=kind,
                occurred=_timestamp(
                    row.get("Creation Date", ""), row.get("TimeZone"), "Creation Date", line_no
                ),
                line_id=(line_id or None) and line_id[:128],
                refs=refs,
                amount=credit - debit,
                fee=fee,
                currency=cur,
                description=(row.get("Payment Method") or "").strip()[:500] or None,
            )
        )
    return Parsed(ADYEN_SETTLEMENT, lines, skipped)


def stripe_api_lines(objects: Iterable[dict[str, Any]], *, start: int = 1) -> Parsed:
    """Lines from Stripe balance transaction objects (the API's shape, minor units)."""
    lines: list[Line] = []
    skipped = 0
    for n, obj in enumerate(objects, start=start):
        if not isinstance(obj, dict) or obj.get("object") != "balance_transaction":
            raise _error("not a balance_transaction object.", n)
        kind = _STRIPE_API_KINDS.get(str(obj.get("type")))
        if kind is None:
            skipped += 1
            continue
        amount, fee, created = obj.get("amount"), obj.get("fee", 0), obj.get("created")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (amount, fee, created)):
            raise _error("amount, fee and created must be integers.", n)
        assert isinstance(amount, int)
        assert isinstance(fee, int)
        assert isinstance(created, int)
        source = obj.get("source")
        refs: tuple[str, ...] = ()
        if isinstance(source, dict):  # expanded: a charge or refund names its PaymentIntent
            refs = tuple(str(v) for v in (source.get("id"), source.get("payment_intent")) if v)
        elif source:
            refs = (str(source),)
        try:
            occurred = datetime.fromtimestamp(created, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _error("created is not a valid Unix timestamp.", n) from None
        if not MIN_YEAR <= occurred.year <= MAX_YEAR or abs(amount) > MAX_LINE_AMOUNT:
            raise _error("created or amount is out of range.", n)
        if abs(fee) > MAX_LINE_AMOUNT:
            raise _error("fee is out of range.", n)
        lines.append(
            Line(
                line_no=n,
                kind=kind,
                occurred=occurred,
                line_id=str(obj.get("id") or "")[:128] or None,
                refs=refs,
                amount=amount,
                fee=fee,
                currency=_currency(str(obj.get("currency") or ""), n),
                description=str(obj.get("description") or "")[:500] or None,
            )
        )
    return Parsed(STRIPE_API, lines, skipped)


def parse_stripe_api(text: str) -> Parsed:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _error("not JSON.") from None
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise _error('expected a list of balance transactions or {"data": [...]}.')
    return stripe_api_lines(items)


def parse_braintree_search(text: str) -> Parsed:
    """Sales and credits submitted for settlement or settled; other statuses are skipped."""
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise _error(f"not Braintree's XML ({exc}).") from None
    txns = [root] if root.tag == "transaction" else root.findall("transaction")
    lines: list[Line] = []
    skipped = 0
    for n, t in enumerate(txns, start=1):

        def field(name: str, t: Any = t) -> str:
            return (t.findtext(name) or "").strip()

        kind = _BRAINTREE_KINDS.get(field("type"))
        if kind is None or field("status") not in _BRAINTREE_SETTLING:
            skipped += 1
            continue
        cur = _currency(field("currency-iso-code"), n)
        amount = _minor(field("amount"), cur, "amount", n)
        txn_id = field("id")
        refs = (txn_id, field("refunded-transaction-id"), field("order-id"))
        lines.append(
            Line(
                line_no=n,
                kind=kind,
                occurred=_timestamp(field("created-at"), None, "created-at", n),
                line_id=txn_id[:128] or None,
                refs=tuple(r for r in refs if r),
                amount=-amount if kind == REFUND else amount,
                fee=None,
                currency=cur,
            )
        )
    return Parsed(BRAINTREE_SEARCH, lines, skipped)


def detect(text: str) -> str:
    """The format of a report, from its first line."""
    first = text.lstrip("\ufeff \r\n\t")[:4096].split("\n", 1)[0]
    if first.startswith(("{", "[")):
        return STRIPE_API
    head = text.lstrip("\ufeff \r\n\t")[:512]
    if head.startswith("<") and ("<credit-card-transactions" in head or "<transaction" in head):
        return BRAINTREE_SEARCH
    if "balance_transaction_id" in first:
        return STRIPE_ITEMIZED
    if "Psp Reference" in first:
        return ADYEN_SETTLEMENT
    raise InvalidRequestError(
        f"The report's format is not one Strongbox reads ({', '.join(FORMATS)}).",
        code="report_format_unknown",
        param="format",
    )


def parse(text: str, fmt: str | None = None) -> Parsed:
    fmt = fmt or detect(text)
    if fmt == STRIPE_ITEMIZED:
        return parse_stripe_itemized(text)
    if fmt == ADYEN_SETTLEMENT:
        return parse_adyen_settlement(text)
    if fmt == STRIPE_API:
        return parse_stripe_api(text)
    if fmt == BRAINTREE_SEARCH:
        return parse_braintree_search(text)
    raise InvalidRequestError(
        f"Unknown report format {fmt[:64]!r}; one of {', '.join(FORMATS)}.",
        code="report_format_unknown",
        param="format",
    )
