"""Hostile input: each request gets a clear Stripe-shaped 4xx and changes nothing at all.

Every case dumps every table before and after the request and compares the dumps, on top of
merchant A's existing objects (so updates of real objects are covered, not only creates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.api.forms import MAX_BODY_BYTES
from support import error_of

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
INT64_MAX = 2**63 - 1

# (id, method, path template, request kwargs, expected status or None for any 4xx)
# Path templates may use {customer}, {paid}, {held}, {refund}, {payment_method}, {event}.
Case = tuple[str, str, str, dict[str, Any], int | None]

OVERSIZED: list[Case] = [
    ("form body over the limit", "POST", "/v1/customers",
     {"content": b"name=" + b"x" * (MAX_BODY_BYTES + 1), "headers": FORM}, 413),
    ("json body over the limit", "POST", "/v1/payment_intents",
     {"content": b'{"description": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}', "headers": JSON},
     413),
    ("declared length over the limit", "POST", "/v1/customers/{customer}",
     {"content": b"name=x", "headers": {**FORM, "Content-Length": str(10 * MAX_BODY_BYTES)}},
     413),
    ("absurd declared length", "POST", "/v1/refunds",
     {"content": b"", "headers": {**FORM, "Content-Length": "9" * 40}}, None),
]  # fmt: skip

NESTING: list[Case] = [
    ("deep form brackets", "POST", "/v1/customers/{customer}",
     {"content": b"metadata" + b"[a]" * 2000 + b"=x", "headers": FORM}, 400),
    ("deep json arrays", "POST", "/v1/payment_intents",
     {"content": b'{"metadata": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "headers": JSON}, 400),
    ("deep json objects", "POST", "/v1/customers/{customer}",
     {"content": b'{"metadata":' * 3000 + b"1" + b"}" * 3000, "headers": JSON}, 400),
    ("ten thousand bracket params", "POST", "/v1/customers/{customer}",
     {"content": b"&".join(b"metadata[k%d]=v" % i for i in range(10_000)), "headers": FORM},
     400),
    ("huge bracket key", "POST", "/v1/customers/{customer}",
     {"content": b"metadata[" + b"k" * 100_000 + b"]=v", "headers": FORM}, 400),
    ("huge bracket index", "POST", "/v1/payment_intents",
     {"content": b"amount=100&currency=usd&payment_method_types[" + b"9" * 5000 + b"]=card",
      "headers": FORM}, 400),
    ("brackets soup", "POST", "/v1/customers", {"content": b"][=1&[[]]=2&a]b[=3",
                                                 "headers": FORM}, 400),
    ("query nesting", "GET", "/v1/payment_intents?" + "created" + "[gte]" * 200 + "=1", {}, 400),
]  # fmt: skip

ENCODING: list[Case] = [
    ("invalid utf-8 form", "POST", "/v1/customers/{customer}",
     {"content": b"name=\xff\xfe", "headers": FORM}, 400),
    ("invalid utf-8 percent-escape", "POST", "/v1/customers/{customer}",
     {"content": b"name=%ff%fe", "headers": FORM}, 400),
    ("invalid utf-8 json", "POST", "/v1/customers/{customer}",
     {"content": b'{"name": "\xc3\x28"}', "headers": JSON}, 400),
    ("lone surrogate json", "POST", "/v1/customers/{customer}",
     {"content": b'{"name": "\\ud800"}', "headers": JSON}, 400),
    ("invalid utf-8 query", "GET", "/v1/customers?email=%ff", {}, 400),
    ("nul in value", "POST", "/v1/customers/{customer}", {"data": {"name": "a\x00b"}}, 400),
]  # fmt: skip

CONTENT_TYPES: list[Case] = [
    ("xml", "POST", "/v1/customers/{customer}",
     {"content": b"<name>x</name>", "headers": {"Content-Type": "application/xml"}}, 400),
    ("text/plain", "POST", "/v1/payment_intents",
     {"content": b"amount=100&currency=usd", "headers": {"Content-Type": "text/plain"}}, 400),
    ("multipart", "POST", "/v1/customers/{customer}",
     {"content": b"--b\r\nContent-Disposition: form-data; name=name\r\n\r\nx\r\n--b--\r\n",
      "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, 400),
    ("latin-1 charset", "POST", "/v1/customers/{customer}",
     {"content": b"name=caf\xe9", "headers": {"Content-Type": FORM["Content-Type"]
                                              + "; charset=latin-1"}}, 400),
    ("json body labelled form", "POST", "/v1/customers/{customer}",
     {"content": b'{"name": "x"}', "headers": FORM}, 400),
    ("form body labelled json", "POST", "/v1/customers/{customer}",
     {"content": b"name=x", "headers": JSON}, 400),
]  # fmt: skip

REPEATED: list[Case] = [
    ("amount twice", "POST", "/v1/payment_intents",
     {"content": b"amount=100&amount=200&currency=usd", "headers": FORM}, 400),
    ("metadata key twice", "POST", "/v1/customers/{customer}",
     {"content": b"metadata[k]=a&metadata[k]=b", "headers": FORM}, 400),
    ("scalar and object", "POST", "/v1/customers/{customer}",
     {"content": b"metadata=a&metadata[k]=b", "headers": FORM}, 400),
    ("query and body", "POST", "/v1/customers/{customer}?name=a",
     {"content": b"name=b", "headers": FORM}, 400),
    ("json duplicate key", "POST", "/v1/customers/{customer}",
     {"content": b'{"name": "a", "name": "b"}', "headers": JSON}, 400),
    ("limit twice in query", "GET", "/v1/customers?limit=1&limit=2", {}, 400),
]  # fmt: skip

AMOUNTS: list[Case] = [
    ("amount over int64", "POST", "/v1/payment_intents",
     {"data": {"amount": str(INT64_MAX + 1), "currency": "usd"}}, 400),
    ("amount under int64", "POST", "/v1/payment_intents",
     {"data": {"amount": str(-(2**63) - 1), "currency": "usd"}}, 400),
    ("amount of 40 digits", "POST", "/v1/payment_intents",
     {"data": {"amount": "9" * 40, "currency": "usd"}}, 400),
    ("json amount over int64", "POST", "/v1/payment_intents",
     {"json": {"amount": INT64_MAX + 1, "currency": "usd"}}, 400),
    ("amount int64 max", "POST", "/v1/payment_intents",
     {"data": {"amount": str(INT64_MAX), "currency": "usd"}}, 400),
    ("zero amount", "POST", "/v1/payment_intents", {"data": {"amount": "0", "currency": "usd"}},
     400),
    ("negative amount", "POST", "/v1/payment_intents",
     {"data": {"amount": "-100", "currency": "usd"}}, 400),
    ("float amount", "POST", "/v1/payment_intents",
     {"json": {"amount": 10.5, "currency": "usd"}}, 400),
    ("exponent amount", "POST", "/v1/payment_intents",
     {"data": {"amount": "1e3", "currency": "usd"}}, 400),
    ("update to negative amount", "POST", "/v1/payment_intents/{held}",
     {"data": {"amount": "-1"}}, 400),
    ("zero refund", "POST", "/v1/refunds", {"data": {"payment_intent": "{paid}", "amount": "0"}},
     400),
    ("negative refund", "POST", "/v1/refunds",
     {"data": {"payment_intent": "{paid}", "amount": "-5"}}, 400),
    ("refund over int64", "POST", "/v1/refunds",
     {"data": {"payment_intent": "{paid}", "amount": str(INT64_MAX + 1)}}, 400),
    ("refund more than paid", "POST", "/v1/refunds",
     {"data": {"payment_intent": "{paid}", "amount": str(INT64_MAX)}}, 400),
    ("negative capture", "POST", "/v1/payment_intents/{held}/capture",
     {"data": {"amount_to_capture": "-1"}}, 400),
    ("capture over authorized", "POST", "/v1/payment_intents/{held}/capture",
     {"data": {"amount_to_capture": str(INT64_MAX)}}, 400),
]  # fmt: skip

CURRENCIES: list[Case] = [
    (f"currency {c!r}", "POST", "/v1/payment_intents",
     {"data": {"amount": "100", "currency": c}}, 400)
    for c in ["xyz", "us", "usdd", "usd ", " usd", "u$d", "", "' OR 1=1 --", "{{7*7}}", "ÜSD"]
]  # fmt: skip

CRLF: list[Case] = [
    ("crlf in metadata value", "POST", "/v1/customers/{customer}",
     {"data": {"metadata[note]": "a\r\nInjected: header"}}, 400),
    ("lf in metadata value", "POST", "/v1/payment_intents",
     {"data": {"amount": "100", "currency": "usd", "metadata[k]": "line1\nline2"}}, 400),
    ("cr in metadata key", "POST", "/v1/customers/{customer}",
     {"data": {"metadata[k\r]": "v"}}, 400),
    ("crlf in json metadata", "POST", "/v1/refunds/{refund}",
     {"json": {"metadata": {"k": "x\r\n\r\n<html>"}}}, 400),
    ("crlf in capture metadata", "POST", "/v1/payment_intents/{held}/capture",
     {"data": {"metadata[k]": "x\ny"}}, 400),
]  # fmt: skip

SQL = ["' OR '1'='1", "1; DROP TABLE payment_intents; --", '" OR ""="', "%' --", "\\'; --"]
TEMPLATE = ["{{7*7}}", "${7*7}", "<%= 7*7 %>", "#{7*7}", "{% raw %}"]
ID_INJECTION: list[Case] = [
    *(
        (f"customer id {v!r}", "POST", "/v1/payment_intents",
         {"data": {"amount": "100", "currency": "usd", "customer": v}}, None)
        for v in SQL + TEMPLATE
    ),
    *(
        (f"payment_method id {v!r}", "POST", "/v1/payment_intents/{held}",
         {"data": {"payment_method": v}}, None)
        for v in SQL + TEMPLATE
    ),
    *(
        (f"refund target {v!r}", "POST", "/v1/refunds", {"data": {"payment_intent": v}}, None)
        for v in SQL + TEMPLATE
    ),
    *(
        (f"attach to customer {v!r}", "POST", "/v1/payment_methods/pm_card_visa/attach",
         {"data": {"customer": v}}, None)
        for v in SQL + TEMPLATE
    ),
    *(
        (f"cursor {v!r}", "GET", "/v1/payment_intents", {"params": {"starting_after": v}}, None)
        for v in SQL + TEMPLATE
    ),
    *(
        (f"expand {v!r}", "GET", "/v1/payment_intents/{paid}", {"params": {"expand[]": v}}, 400)
        for v in SQL + TEMPLATE
    ),
]  # fmt: skip

PATHS: list[Case] = [
    *(
        (f"{method} {path}", method, path, {}, None)
        for path in [
            "/v1/customers/..%2F..%2Fetc%2Fpasswd",
            "/v1/customers/%2e%2e%2f%2e%2e%2f",
            "/v1/payment_intents/..%5c..%5cwindows",
            "/v1/refunds/%252e%252e%252f",
            "/v1/payment_intents/pi_" + "x" * 10_000,
            "/v1/customers/cus_" + "9" * 300,
            "/v1/events/" + "evt_" + "a" * 256,
            "/v1/payment_methods/" + "pm_" + "%41" * 2000,
            "/v1/payment_intents/' OR 1=1 --",
            "/v1/customers/{{7*7}}",
        ]
        for method in ("GET", "POST")
    ),
    ("traversal cancel", "POST", "/v1/payment_intents/..%2F{held}/cancel", {}, None),
    ("over-long id capture", "POST", "/v1/payment_intents/{held}" + "x" * 300 + "/capture", {},
     None),
    ("over-long id delete", "DELETE", "/v1/customers/{customer}" + "x" * 5000, {}, None),
]  # fmt: skip

ALL = OVERSIZED + NESTING + ENCODING + CONTENT_TYPES + REPEATED + AMOUNTS + CURRENCIES + CRLF
ALL += ID_INJECTION + PATHS


def _fill(value: Any, objects: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, oid in objects.items():
            value = value.replace("{" + name + "}", oid)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, objects) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [pytest.param(m, p, k, s, id=name) for name, m, p, k, s in ALL],
)
def test_hostile_request_is_4xx_and_changes_nothing(
    api: TestClient,
    objects: dict[str, str],
    snapshot: Callable[[], Any],
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int | None,
) -> None:
    path = _fill(path, objects)
    kwargs = {k: _fill(v, objects) if k in ("data", "json", "params") else v
              for k, v in kwargs.items()}  # fmt: skip
    before = snapshot()
    r = api.request(method, path, **kwargs)
    err = error_of(r, status)
    assert err["type"] in ("invalid_request_error", "card_error"), err
    assert snapshot() == before


def test_chunked_body_over_the_limit_is_413(
    api: TestClient, objects: dict[str, str], snapshot: Callable[[], Any]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"name="
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    before = snapshot()
    r = api.post(f"/v1/customers/{objects['customer']}", content=chunks(), headers=FORM)
    err = error_of(r, 413)
    assert "too large" in err["message"]
    assert snapshot() == before


@pytest.mark.parametrize("value", SQL + TEMPLATE + ["<script>alert(1)</script>", "😀 \t tab"])
def test_meta_characters_in_free_text_are_stored_verbatim(
    api: TestClient, objects: dict[str, str], snapshot: Callable[[], Any], value: str
) -> None:
    """SQL and template meta-characters in every string field are data: stored and returned
    exactly (never evaluated), and no other row changes."""
    before = snapshot()
    fields = {
        "name": value, "email": value, "phone": value[:64], "description": value,
        "address[line1]": value, "address[line2]": value, "address[city]": value,
        "address[state]": value, "address[postal_code]": value[:20], "metadata[note]": value,
        f"metadata[{value[:40].replace('[', '(').replace(']', ')')}]": "key",
    }  # fmt: skip
    r = api.post("/v1/customers", data=fields)
    assert r.status_code == 200, r.text
    cus = api.get(f"/v1/customers/{r.json()['id']}").json()
    assert cus["name"] == cus["email"] == cus["description"] == value
    assert cus["address"]["line1"] == cus["address"]["city"] == value
    assert cus["metadata"]["note"] == value
    pi = api.post(
        "/v1/payment_intents",
        data={"amount": "100", "currency": "usd", "description": value,
              "statement_descriptor": value[:22], "metadata[v]": value},
    )  # fmt: skip
    assert pi.status_code == 200, pi.text
    assert pi.json()["description"] == value
    after = snapshot()
    for table, rows in before.items():
        missing = [row for row in rows if row not in after[table]]
        assert not missing, (table, missing)  # nothing that existed changed or vanished
    assert len(after["customers"]) == len(before["customers"]) + 1
    assert len(after["payment_intents"]) == len(before["payment_intents"]) + 1
