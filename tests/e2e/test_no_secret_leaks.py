"""No card number, CVC or secret key leaks anywhere, through the whole flow, with DEBUG logs.

Drives a live server over HTTP (uvicorn, real sockets) with every logger at DEBUG (SQLAlchemy
statements, parameters and rows included): tokenization with raw card data (secret and
publishable keys, the hosted card page), a customer with PII, confirm, manual capture,
refunds, a 3DS card through its challenge, declines, validation errors and idempotent
replays. Then it searches, for every test PAN (digits alone, grouped by spaces or dashes),
every CVC value and the merchant's secret key:

- every log record (message, arguments, exception text, extra attributes) and stdout/stderr;
- every byte of every file in the data directory (SQLite database, ``-wal``, ``-shm``, …);
- every cell of every table, and a ``pg_dump`` when the PostgreSQL backend runs;
- the events: ``/v1/events``, the outbox table, the payloads webhooks send (rendered events)
  and what the relay publishes on the bus (what webhook delivery and other consumers get);
- every API response body and header.

Nothing here depends on log redaction: the point is that nothing logs a PAN in the first place.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import sqlalchemy as sa

from strongbox.core.settings import Settings
from strongbox.events.models import OutboxEvent
from strongbox.events.relay import relay_once
from strongbox.events.service import render_event
from strongbox.runtime import Runtime
from support import LiveServer, Merchant


@dataclass(frozen=True)
class Card:
    pan: str
    cvc: str
    groups: tuple[int, ...] = (4, 4, 4, 4)

    def spellings(self) -> list[str]:
        """The PAN as digits and grouped with spaces or dashes, as people type it."""
        parts, i = [], 0
        for size in self.groups:
            parts.append(self.pan[i : i + size])
            i += size
        return [self.pan, " ".join(parts), "-".join(parts)]


VISA = Card("4242424242424242", "739")
MASTERCARD = Card("5555555555554444", "862")
AMEX = Card("378282246310005", "4417", (4, 6, 5))
DECLINED = Card("4000000000000002", "517")
INSUFFICIENT = Card("4000000000009995", "946")
THREE_DS = Card("4000002760003184", "318")
BAD_LUHN = Card("4242424242424241", "654")
CARDS = [VISA, MASTERCARD, AMEX, DECLINED, INSUFFICIENT, THREE_DS, BAD_LUHN]


def _cvc_token(cvc: str) -> re.Pattern[str]:
    """The CVC as a number of its own (not part of an id, a longer number or a decimal)."""
    return re.compile(rf"(?<![\w.]){cvc}(?![\w.])")


def _cvc_field(cvc: str) -> re.Pattern[bytes]:
    """The CVC next to a cvc-like label (JSON, form or repr), for raw bytes."""
    return re.compile(rb"cvc[^0-9A-Za-z]{0,12}" + cvc.encode() + rb"(?![0-9])", re.I)


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)

    def scan_text(self, where: str, text: str, secret_key: str, *, cvc_tokens: bool) -> None:
        for card in CARDS:
            for spelled in card.spellings():
                if spelled in text:
                    self.problems.append(f"{where}: PAN {spelled!r}")
            if cvc_tokens and _cvc_token(card.cvc).search(text):
                self.problems.append(f"{where}: CVC {card.cvc!r}")
            if _cvc_field(card.cvc).search(text.encode("utf-8", "replace")):
                self.problems.append(f"{where}: cvc field {card.cvc!r}")
        if secret_key in text:
            self.problems.append(f"{where}: the secret key")

    def scan_bytes(self, where: str, data: bytes, secret_key: str) -> None:
        for card in CARDS:
            for spelled in card.spellings():
                for encoded in (spelled.encode(), spelled.encode("utf-16-le")):
                    if encoded in data:
                        self.problems.append(f"{where}: PAN {spelled!r}")
            if _cvc_field(card.cvc).search(data):
                self.problems.append(f"{where}: cvc field {card.cvc!r}")
        if secret_key.encode() in data:
            self.problems.append(f"{where}: the secret key")


class Capture(logging.Handler):
    """Keeps everything a log record carries, formatted, in one text."""

    STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message"}

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.parts: list[str] = []
        self.records = 0
        self.formatter_ = logging.Formatter("%(levelname)s %(name)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            self.parts.append(self.formatter_.format(record))
        except Exception as exc:  # noqa: BLE001 - a record that cannot format is still searched
            self.parts.append(f"unformattable record {record.msg!r}: {exc!r}")
        self.parts.append(repr(record.msg))
        self.parts.append(repr(record.args))
        extras = {k: v for k, v in vars(record).items() if k not in self.STANDARD}
        if extras:
            self.parts.append(repr(extras))

    @property
    def text(self) -> str:
        return "\n".join(self.parts)


@pytest.fixture
def debug_logs() -> Iterator[Capture]:
    """DEBUG on the root logger and every logger that exists, restored afterwards."""
    capture = Capture()
    root = logging.getLogger()
    saved = {
        name: lg.level
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    saved_root = root.level
    saved_disabled = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        logging.disable(saved_disabled)


class Recorder:
    """An HTTP client that keeps every response (status, headers, body)."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self.responses: list[httpx.Response] = []

    def request(self, method: str, url: str, key: str | None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        r = self.client.request(method, url, headers=headers, **kw)
        self.responses.append(r)
        return r

    def close(self) -> None:
        self.client.close()


def _card_params(card: Card, *, number: str | None = None) -> dict[str, str]:
    return {
        "type": "card",
        "card[number]": number or card.pan,
        "card[exp_month]": "12",
        "card[exp_year]": "2034",
        "card[cvc]": card.cvc,
    }


def _all_pages(http: Recorder, url: str, key: str, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": "100", **params, **({"starting_after": cursor} if cursor else {})}
        page = http.request("GET", url, key, params=query).json()
        out.extend(page["data"])
        if not page["has_more"]:
            return out
        cursor = page["data"][-1]["id"]


def _run_flow(http: Recorder, merchant: Merchant) -> None:
    sk, pk = merchant.secret_key, merchant.publishable_key

    def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert r.status_code == status, r.text
        body: dict[str, Any] = r.json()
        return body

    def tokenize(card: Card, key: str = sk, **kw: Any) -> str:
        return str(
            ok(http.request("POST", "/v1/payment_methods", key, data=_card_params(card), **kw))[
                "id"
            ]
        )

    # A customer with PII, and cards tokenized with raw card data (secret and publishable keys).
    customer = ok(
        http.request(
            "POST",
            "/v1/customers",
            sk,
            data={
                "name": "Jenny Rosen",
                "email": "jenny.rosen@example.com",
                "phone": "+15555550123",
                "address[line1]": "510 Townsend St",
                "address[city]": "San Francisco",
                "address[postal_code]": "94103",
                "address[country]": "US",
            },
        )
    )["id"]
    visa = tokenize(VISA, headers={"Idempotency-Key": "leak-visa"})
    replay = http.request(
        "POST",
        "/v1/payment_methods",
        sk,
        data=_card_params(VISA),
        headers={"Idempotency-Key": "leak-visa"},
    )
    assert replay.json()["id"] == visa
    mastercard = tokenize(MASTERCARD, key=pk)  # as the hosted card page does
    amex = tokenize(AMEX)
    declined = tokenize(DECLINED)
    insufficient = tokenize(INSUFFICIENT)
    three_ds = tokenize(THREE_DS)
    ok(http.request("POST", f"/v1/payment_methods/{visa}/attach", sk, data={"customer": customer}))
    ok(http.request("GET", f"/v1/payment_methods/{visa}", sk))
    _all_pages(http, "/v1/payment_methods", sk, customer=customer)

    # Pay, capture, refund.
    pi = ok(
        http.request(
            "POST",
            "/v1/payment_intents",
            sk,
            data={
                "amount": "2000",
                "currency": "usd",
                "customer": customer,
                "payment_method": visa,
                "confirm": "true",
            },
        )
    )
    assert pi["status"] == "succeeded", pi
    ok(http.request("POST", "/v1/refunds", sk, data={"payment_intent": pi["id"], "amount": "500"}))
    manual = ok(
        http.request(
            "POST",
            "/v1/payment_intents",
            sk,
            data={
                "amount": "5000",
                "currency": "eur",
                "capture_method": "manual",
                "payment_method": mastercard,
                "confirm": "true",
            },
        )
    )
    assert manual["status"] == "requires_capture", manual
    ok(
        http.request(
            "POST",
            f"/v1/payment_intents/{manual['id']}/capture",
            sk,
            data={"amount_to_capture": "4000"},
        )
    )
    ok(http.request("POST", "/v1/refunds", sk, data={"payment_intent": manual["id"]}))
    amex_pi = ok(
        http.request(
            "POST",
            "/v1/payment_intents",
            sk,
            data={"amount": "3100", "currency": "usd", "payment_method": amex},
        )
    )
    ok(http.request("POST", f"/v1/payment_intents/{amex_pi['id']}/confirm", sk))

    # 3DS: requires_action, the challenge page, completion.
    action = ok(
        http.request(
            "POST",
            "/v1/payment_intents",
            sk,
            data={
                "amount": "1200",
                "currency": "gbp",
                "payment_method": three_ds,
                "confirm": "true",
            },
        )
    )
    assert action["status"] == "requires_action", action
    challenge = urlsplit(action["next_action"]["redirect_to_url"]["url"]).path
    http.request("GET", challenge, None)
    ok(http.request("POST", challenge + "/complete", None, headers={"Accept": "application/json"}))
    assert (
        ok(http.request("GET", f"/v1/payment_intents/{action['id']}", sk))["status"] == "succeeded"
    )

    # Declines.
    for pm in (declined, insufficient):
        r = http.request(
            "POST",
            "/v1/payment_intents",
            sk,
            data={"amount": "700", "currency": "usd", "payment_method": pm, "confirm": "true"},
        )
        assert r.status_code == 402, r.text

    # Bad input: every error must leave the card data out of its answer.
    bad_inputs = [
        _card_params(BAD_LUHN),
        {**_card_params(VISA), "card[exp_month]": "13"},
        {**_card_params(VISA), "card[exp_year]": "2001"},
        {**_card_params(VISA), "card[cvc]": "12"},
        {**_card_params(AMEX), "card[cvc]": VISA.cvc},  # Amex needs 4 digits
        {**_card_params(VISA), "card[exp_month]": VISA.pan},  # a PAN in the wrong field
        {**_card_params(VISA), "card[cvc]": VISA.pan},
        {**_card_params(VISA), "card[nubmer]": VISA.pan},  # unknown parameter
        {**_card_params(VISA), "metadata[note]": "x" * 600},  # invalid metadata, card valid
        {"type": "card", "card[number]": VISA.pan},  # missing expiry
        {
            "type": "card",
            "card[number]": VISA.pan,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": VISA.cvc,
            "type_x": "1",
        },
        {**_card_params(VISA), "type": "sepa_debit"},
    ]
    for params in bad_inputs:
        r = http.request("POST", "/v1/payment_methods", sk, data=params)
        assert 400 <= r.status_code < 500, (params, r.text)
    for card in (VISA, AMEX):
        for spelled in card.spellings()[1:]:
            r = http.request(
                "POST", "/v1/payment_methods", sk, data=_card_params(card, number=spelled)
            )
            assert r.status_code in (200, 400, 402), r.text
    r = http.request(
        "POST",
        "/v1/payment_methods",
        sk,
        json={
            "type": "card",
            "card": {"number": AMEX.pan, "exp_month": 12, "exp_year": 2034, "cvc": AMEX.cvc},
        },
    )
    assert r.status_code == 200, r.text
    # Same idempotency key, other card: an idempotency error that must not quote the body.
    r = http.request(
        "POST",
        "/v1/payment_methods",
        sk,
        data=_card_params(MASTERCARD),
        headers={"Idempotency-Key": "leak-visa"},
    )
    assert r.status_code == 400, r.text
    # Publishable keys create payment methods and nothing else.
    r = http.request(
        "POST",
        "/v1/payment_intents",
        pk,
        data={"amount": "100", "currency": "usd", "payment_method": visa},
    )
    assert r.status_code == 403, r.text
    r = http.request("GET", f"/v1/payment_methods/{visa}", pk)
    assert r.status_code == 403, r.text
    # Wrong or missing keys while sending card data.
    r = http.request("POST", "/v1/payment_methods", "sk_test_" + "0" * 32, data=_card_params(VISA))
    assert r.status_code == 401, r.text
    r = http.request("POST", "/v1/payment_methods", None, data=_card_params(VISA))
    assert r.status_code == 401, r.text

    # The hosted card page and the lists a dashboard would show.
    ok(http.request("POST", "/v1/merchant_origins", sk, data={"origin": "https://shop.example"}))
    page = http.request(
        "GET", "/elements/card", None, params={"key": pk, "origin": "https://shop.example"}
    )
    assert page.status_code == 200
    for url in ("/v1/payment_intents", "/v1/refunds", "/v1/customers", "/v1/payment_methods"):
        _all_pages(http, url, sk)
    ok(http.request("GET", f"/v1/customers/{customer}", sk))


def _table_cells(engine: sa.Engine) -> Iterator[tuple[str, Any]]:
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    yield f"{table.name}.{column.name}", value


def _pg_dump(url: str) -> str:
    parts = sa.engine.make_url(url)
    result = subprocess.run(
        [
            "pg_dump",
            "--no-owner",
            "-h",
            parts.host or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "postgres",
            parts.database or "",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode("utf-8")


def test_no_pan_cvc_or_secret_key_anywhere(
    runtime: Runtime,
    settings: Settings,
    merchant: Merchant,
    debug_logs: Capture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    published: list[dict[str, Any]] = []
    runtime.bus.subscribe("*", published.append)
    sk = merchant.secret_key
    with LiveServer(runtime) as server:
        http = Recorder(server.url)
        try:
            _run_flow(http, merchant)
            events = _all_pages(http, "/v1/events", sk)
        finally:
            http.close()
    while relay_once(runtime.db, runtime.bus):
        pass

    found = Findings()
    # Logs (the test proves they were on: SQLAlchemy logs every statement at this level).
    assert debug_logs.records > 100
    assert "INSERT INTO payment_methods" in debug_logs.text
    out, err = capfd.readouterr()
    found.scan_text("logs", debug_logs.text, sk, cvc_tokens=True)
    found.scan_text("stdout/stderr", out + err, sk, cvc_tokens=True)

    # API responses, bodies and headers.
    assert len(http.responses) > 50
    for r in http.responses:
        where = f"response {r.request.method} {r.request.url.path} {r.status_code}"
        found.scan_text(where, r.text, sk, cvc_tokens=True)
        found.scan_text(where + " headers", repr(list(r.headers.items())), sk, cvc_tokens=True)

    # Events, as the API lists them, as webhooks would send them, as the relay publishes them.
    assert events
    with runtime.db.read() as session:
        outbox = list(session.scalars(sa.select(OutboxEvent)))
        payloads = {e.id: (e.type, orjson.dumps(render_event(e)).decode()) for e in outbox}
    assert set(payloads) == {e["id"] for e in events}
    assert len(published) == len(outbox)
    found.scan_text("/v1/events", orjson.dumps(events).decode(), sk, cvc_tokens=True)
    for type_, payload in payloads.values():
        found.scan_text(f"webhook payload {type_}", payload, sk, cvc_tokens=True)
    found.scan_text("bus", orjson.dumps(published).decode(), sk, cvc_tokens=True)

    # The database: every cell, then the files or a dump.
    cells = 0
    for where, value in _table_cells(runtime.db.engine):
        cells += 1
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            found.scan_bytes(where, raw, sk)
            if raw in {c.cvc.encode() for c in CARDS}:
                found.problems.append(f"{where}: a CVC as bytes")
        elif value is not None:
            text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
            found.scan_text(where, text, sk, cvc_tokens=True)
    assert cells > 200
    files = sorted(p for p in settings.data_dir.rglob("*") if p.is_file())
    for path in files:
        found.scan_bytes(f"file {path.name}", path.read_bytes(), sk)
    if runtime.db.is_sqlite:
        assert any(p.name.endswith("-wal") for p in files), files
    else:
        assert settings.database_url
        dump = _pg_dump(settings.database_url)
        assert "COPY public.payment_methods" in dump
        found.scan_text("pg_dump", dump, sk, cvc_tokens=False)
        found.scan_bytes("pg_dump", dump.encode(), sk)

    assert found.problems == []
