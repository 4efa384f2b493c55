"""The gateways' report formats, read from files in their wire format."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from strongbox.core.errors import InvalidRequestError
from strongbox.reconciliation import formats

ADYEN = (
    "Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,"
    "Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),"
    "Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),"
    "Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,"
    "Modification Merchant Reference,Batch Number,Reserved4,Reserved5,Reserved6,Reserved7,"
    "Reserved8,Reserved9,Reserved10\r\n"
    "Acme,AcmeEU,8815131768219992,pi_abc,visa,2024-03-01 23:30:00,CET,Settled,"
    "8815131768219992,EUR,,100.00,1,EUR,,97.85,0.12,,0.13,1.90,visa,,41,,,,,,,\r\n"
    "Acme,AcmeEU,8815131768219992,pi_abc,visa,2024-03-02 10:00:00,CET,Refunded,"
    "8515131768310001,EUR,25.00,,1,EUR,25.00,,,,,,visa,re_1,41,,,,,,,\r\n"
    "Acme,AcmeEU,,,,2024-03-02 11:00:00,CET,MerchantPayout,,EUR,,,,EUR,72.85,,,,,,,,41,,,,,,,"
    "\r\n"
    "Acme,AcmeEU,8815131768219993,pi_jpy,jcb,2024-03-02 12:00:00,UTC,Settled,"
    "8815131768219993,JPY,,5000,1,USD,,33.10,0.20,,,,jcb,,41,,,,,,,\r\n"
)

STRIPE = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,"
    "reporting_category,source_id,description,payment_intent_id\n"
    "txn_1,2024-03-01 10:00:00,2024-03-03 00:00:00,usd,20.00,0.88,19.12,charge,ch_1,,pi_1\n"
    "txn_2,2024-03-01 11:00:00,2024-03-03 00:00:00,usd,-5.00,0.00,-5.00,refund,re_1,,pi_1\n"
    "txn_3,2024-03-01 12:00:00,2024-03-03 00:00:00,usd,-14.12,0.00,-14.12,payout,po_1,,\n"
    "txn_4,2024-03-01 13:00:00,2024-03-03 00:00:00,jpy,500,20,480,charge,ch_2,,\n"
)


def test_adyen_settlement_details() -> None:
    parsed = formats.parse(ADYEN)
    assert parsed.format == formats.ADYEN_SETTLEMENT
    assert parsed.skipped == 1  # the payout
    charge, refund, jpy = parsed.lines
    # 23:30 CET is 22:30 UTC, the same day; the fee is the four fee columns summed.
    assert (charge.kind, charge.amount, charge.fee, charge.currency) == (
        "charge",
        10000,
        215,
        "eur",
    )
    assert charge.occurred == datetime(2024, 3, 1, 22, 30, tzinfo=UTC)
    assert charge.refs == ("8815131768219992", "pi_abc")
    assert charge.line_no == 2
    # A refund is a debit: negative, and named by its own modification reference.
    assert (refund.kind, refund.amount, refund.line_id) == ("refund", -2500, "8515131768310001")
    assert refund.refs == ("8515131768310001", "8815131768219992", "pi_abc")
    # Gross in JPY (zero-decimal), net in USD: the fee is in another currency, not compared.
    assert (jpy.amount, jpy.currency, jpy.fee) == (5000, "jpy", None)


def test_stripe_itemized_report() -> None:
    parsed = formats.parse(STRIPE)
    assert parsed.format == formats.STRIPE_ITEMIZED
    assert parsed.skipped == 1
    ch, re, jpy = parsed.lines
    assert (ch.amount, ch.fee, ch.refs, ch.line_id) == (2000, 88, ("ch_1", "pi_1"), "txn_1")
    assert (re.kind, re.amount) == ("refund", -500)
    assert (jpy.amount, jpy.fee) == (500, 20)
    assert ch.day == "2024-03-01"


def test_stripe_balance_transactions_from_the_api() -> None:
    page = {
        "object": "list",
        "has_more": False,
        "data": [
            {
                "id": "txn_9",
                "object": "balance_transaction",
                "amount": 2000,
                "fee": 88,
                "currency": "usd",
                "created": 1709287200,
                "type": "charge",
                "source": {"id": "ch_9", "object": "charge"},
            },
            {
                "id": "txn_10",
                "object": "balance_transaction",
                "amount": -2000,
                "fee": 0,
                "currency": "usd",
                "created": 1709287300,
                "type": "payout",
                "source": "po_1",
            },
        ],
    }
    parsed = formats.parse(orjson.dumps(page).decode())
    assert parsed.format == formats.STRIPE_API
    assert parsed.skipped == 1
    (line,) = parsed.lines
    assert (line.amount, line.fee, line.refs, line.line_id) == (2000, 88, ("ch_9",), "txn_9")
    assert line.occurred == datetime.fromtimestamp(1709287200, tz=UTC)


@pytest.mark.parametrize(
    ("text", "fmt", "code", "starts"),
    [
        ("", None, "report_format_unknown", "The report's format"),
        (STRIPE.replace("20.00", "20.001"), None, "report_invalid", "Line 2: gross"),
        (STRIPE.replace(",500,", ",500.5,"), None, "report_invalid", "Line 5: gross"),
        (STRIPE.replace("usd,20.00", "zzz,20.00"), None, "report_invalid", "Line 2: unknown"),
        (STRIPE.replace("2024-03-01 10:00:00", "yesterday"), None, "report_invalid", "Line 2"),
        (ADYEN.replace(",CET,Settled", ",Mars/Olympus,Settled"), None, "report_invalid", "Line 2"),
        ("balance_transaction_id,currency\n", None, "report_invalid", "a stripe_itemized"),
        ("[1, 2]", None, "report_invalid", "Line 1: not a balance"),
        ("{not json", None, "report_invalid", "not JSON"),
        (STRIPE, "bogus", "report_format_unknown", "Unknown report format"),
        (
            STRIPE.replace("2024-03-01 10:00:00", "9999-12-31 23:59:59"),
            None,
            "report_invalid",
            "Line 2: created_utc",
        ),
        (
            ADYEN.replace("2024-03-01 23:30:00", "0001-01-01 00:00:00"),
            None,
            "report_invalid",
            "Line 2: Creation Date",
        ),
        (STRIPE.replace("20.00", "9" * 30), None, "report_invalid", "Line 2: gross is larger"),
        (
            '{"data": [{"object": "balance_transaction", "type": "charge", "amount": 1, "fee": 0,'
            ' "currency": "usd", "created": 99999999999999}]}',
            None,
            "report_invalid",
            "Line 1",
        ),
    ],
)
def test_unreadable_reports_name_the_line(
    text: str, fmt: str | None, code: str, starts: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        formats.parse(text, fmt)
    assert info.value.code == code
    assert info.value.message.startswith(starts), info.value.message
    assert info.value.status == 400
