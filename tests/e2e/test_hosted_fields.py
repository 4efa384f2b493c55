"""Hosted card fields end to end, in headless Chromium (Debian's ``chromium`` via Playwright).

A live Strongbox server and a "merchant" web server on another 127.0.0.1 port (so another
origin) that serves a checkout page embedding the card iframe with ``strongbox.js``. A card is
typed into the iframe; the merchant page receives only a ``pm_…`` by ``postMessage`` and sends
it to its own server, which confirms a payment with its secret key. A page on an origin that
is not registered gets nothing: no form, no message, and a forged ``origin`` parameter is
stopped by ``frame-ancestors``.

Chromium comes from the shared ``browser`` / ``page`` fixtures (``tests/e2e/conftest.py``):
launched so that it cannot reach anything but loopback, and its NetLog checked for that when
it closes. Without Chromium these tests skip, except in CI (``STRONGBOX_REQUIRE_SERVICES=1``)
where a missing browser is a failure.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from e2e.browser import TIMEOUT_MS
from support import LiveServer, Merchant, free_port

PAN = "4242424242424242"

CHECKOUT_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout</title></head>
<body data-pk="{pk}" data-forge="{forge}">
<h1>Checkout</h1>
<div id="card-element"></div>
<button id="pay" type="button">Pay</button>
<pre id="result"></pre>
<script src="{strongbox}/elements/strongbox.js"></script>
<script src="/checkout.js"></script>
</body></html>
"""

# The merchant's own script: every message the page receives is recorded, from any origin.
CHECKOUT_JS = """
window.__messages = [];
window.__pms = [];
window.__errors = [];
window.addEventListener("message", function (e) {
  window.__messages.push({ origin: e.origin, data: e.data });
});
var body = document.body;
var forge = body.getAttribute("data-forge");
if (forge) {
  // An unregistered site that claims to be a registered origin in the iframe URL.
  var frame = document.createElement("iframe");
  frame.src = forge;
  document.getElementById("card-element").appendChild(frame);
} else {
  var card = Strongbox(body.getAttribute("data-pk")).card({
    loadTimeoutMs: 1500,
    onReady: function () { document.body.setAttribute("data-ready", "1"); },
    onPaymentMethod: function (pm) { window.__pms.push(pm); },
    onError: function (err) {
      window.__errors.push({ code: err.code, param: err.param, message: err.message });
    }
  });
  card.mount("#card-element");
  document.getElementById("pay").addEventListener("click", function () {
    card.createPaymentMethod().then(function (pm) {
      return fetch("/pay", { method: "POST", headers: { "Content-Type": "application/json" },
                             body: JSON.stringify({ payment_method: pm.id }) })
        .then(function (r) { return r.json(); });
    }).then(function (res) {
      document.getElementById("result").textContent = JSON.stringify(res);
    }, function (err) {
      document.getElementById("result").textContent = JSON.stringify({ error: err.code });
    });
  });
}
"""


class MerchantSite:
    """The merchant's web server: the checkout page, its script, and ``POST /pay``."""

    def __init__(self, strongbox: LiveServer, merchant: Merchant, forge: str = "") -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.received: list[bytes] = []  # every request line and body the merchant got
        site = self
        page = CHECKOUT_HTML.format(
            pk=merchant.publishable_key, strongbox=strongbox.url, forge=forge
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                site.received.append(self.requestline.encode())
                if self.path == "/":
                    self._send(200, "text/html; charset=utf-8", page)
                elif self.path == "/checkout.js":
                    self._send(200, "text/javascript", CHECKOUT_JS.encode())
                else:
                    self._send(404, "text/plain", b"not found")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                site.received.append(self.requestline.encode() + b"\n" + raw)
                pm = json.loads(raw)["payment_method"]
                # The merchant's server confirms with its secret key.
                r = httpx.post(
                    f"{strongbox.url}/v1/payment_intents",
                    data={
                        "amount": "2000",
                        "currency": "usd",
                        "payment_method": pm,
                        "confirm": "true",
                    },
                    headers=merchant.headers,
                    timeout=60,
                )
                body = r.json()
                out = {"id": body.get("id"), "status": body.get("status")}
                if "error" in body:
                    out = {"error": body["error"].get("code")}
                self._send(200, "application/json", json.dumps(out).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> MerchantSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _register(server: LiveServer, merchant: Merchant, origin: str) -> None:
    r = httpx.post(
        f"{server.url}/v1/merchant_origins", data={"origin": origin}, headers=merchant.headers
    )
    assert r.status_code == 200, r.text


def _type_card(page: Any, number: str, expiry: str = "12 / 34", cvc: str = "123") -> None:
    frame = page.frame_locator("#card-element iframe")
    frame.locator("#card-number").fill(number)
    frame.locator("#card-expiry").fill(expiry)
    frame.locator("#card-cvc").fill(cvc)


def _strongbox_messages(page: Any, server: LiveServer) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = page.evaluate("window.__messages")
    assert all(m["origin"] == server.url for m in messages), messages
    return [m["data"] for m in messages]


def test_a_typed_card_becomes_a_payment_the_merchant_server_confirms(
    live_server: LiveServer, merchant: Merchant, page: Any
) -> None:
    with MerchantSite(live_server, merchant) as site:
        _register(live_server, merchant, site.origin)
        requests: list[tuple[str, str, str]] = []
        page.on("request", lambda req: requests.append((req.method, req.url, req.post_data or "")))
        page.goto(site.origin + "/")
        page.wait_for_selector("body[data-ready='1']")
        _type_card(page, "4242 4242 4242 4242")
        page.click("#pay")
        page.wait_for_function("document.getElementById('result').textContent.length > 0")
        result = json.loads(page.inner_text("#result"))
        assert result["status"] == "succeeded", result
        assert result["id"].startswith("pi_")

        messages = _strongbox_messages(page, live_server)
        assert [m["type"] for m in messages] == ["ready", "payment_method"]
        pm = messages[1]["payment_method"]
        assert pm["id"].startswith("pm_")
        assert pm["card"]["last4"] == "4242"
        assert pm["card"]["brand"] == "visa"
        assert PAN not in json.dumps(messages)

        # The card went only to Strongbox, never to the merchant's server.
        card_posts = [r for r in requests if PAN in r[2]]
        tokenize = ("POST", live_server.url + "/v1/payment_methods")
        assert [(m, u) for m, u, _ in card_posts] == [tokenize]
        assert not any(PAN in u for _, u, _ in requests)
        assert site.received
        assert not any(PAN.encode() in raw for raw in site.received)
        assert pm["id"].encode() in site.received[-1]
        # The iframe forgets the number and CVC once saved.
        frame = page.frame_locator("#card-element iframe")
        assert frame.locator("#card-number").input_value() == ""
        assert frame.locator("#card-cvc").input_value() == ""

        pi = httpx.get(
            f"{live_server.url}/v1/payment_intents/{result['id']}", headers=merchant.headers
        ).json()
        assert pi["status"] == "succeeded"
        assert pi["payment_method"] == pm["id"]
        assert pi["amount_received"] == 2000


def test_invalid_cards_are_reported_in_the_frame_and_to_the_page(
    live_server: LiveServer, merchant: Merchant, page: Any
) -> None:
    with MerchantSite(live_server, merchant) as site:
        _register(live_server, merchant, site.origin)
        page.goto(site.origin + "/")
        page.wait_for_selector("body[data-ready='1']")
        _type_card(page, "4242 4242 4242 4241")  # fails Luhn
        # The frame's own button works too (Enter or click).
        frame = page.frame_locator("#card-element iframe")
        frame.locator("#card-submit").click()
        page.wait_for_function("window.__errors.length > 0")
        errors = page.evaluate("window.__errors")
        assert errors[0]["code"] == "incorrect_number"
        assert errors[0]["param"] == "card[number]"
        assert frame.locator("#card-number").get_attribute("aria-invalid") == "true"
        assert frame.locator("#card-message").inner_text()
        assert page.evaluate("window.__pms") == []

        # A declined card: a token is made, the merchant's confirmation is declined.
        _type_card(page, "4000 0000 0000 0002")
        page.click("#pay")
        page.wait_for_function("document.getElementById('result').textContent.length > 0")
        assert json.loads(page.inner_text("#result")) == {"error": "card_declined"}
        messages = _strongbox_messages(page, live_server)
        assert [m["type"] for m in messages] == ["ready", "error", "payment_method"]
        assert not any(raw.count(b"4000000000000002") for raw in site.received)


def test_an_unregistered_origin_gets_nothing(
    live_server: LiveServer, merchant: Merchant, page: Any
) -> None:
    with MerchantSite(live_server, merchant) as registered:
        _register(live_server, merchant, registered.origin)
        with MerchantSite(live_server, merchant) as site:
            page.goto(site.origin + "/")
            page.wait_for_function("window.__errors.length > 0")
            assert page.evaluate("window.__errors")[0]["code"] == "elements_unavailable"
            assert page.evaluate("window.__messages") == []
            frame = page.frame_locator("#card-element iframe")
            assert "not registered" in frame.locator("body").inner_text()
            assert frame.locator("input").count() == 0
            assert page.get_attribute("body", "data-ready") is None


def test_a_forged_origin_parameter_is_blocked_by_frame_ancestors(
    live_server: LiveServer, merchant: Merchant, page: Any
) -> None:
    with MerchantSite(live_server, merchant) as registered:
        _register(live_server, merchant, registered.origin)
        forged = httpx.URL(
            f"{live_server.url}/elements/card",
            params={"key": merchant.publishable_key, "origin": registered.origin},
        )
        with MerchantSite(live_server, merchant, forge=str(forged)) as site:
            blocked: list[str] = []
            page.on("console", lambda msg: blocked.append(msg.text))
            responses: list[int] = []
            page.on(
                "response",
                lambda r: responses.append(r.status) if "/elements/card" in r.url else None,
            )
            page.goto(site.origin + "/")
            page.wait_for_function("() => document.querySelector('iframe') !== null")
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while not any("frame-ancestors" in text for text in blocked):
                assert time.monotonic() < deadline, blocked
                page.wait_for_timeout(100)
            assert responses == [200]  # the server answered with the form ...
            # ... but the browser refused to render it inside this origin.
            (child,) = page.main_frame.child_frames
            assert child.query_selector("#card-number") is None
            page.wait_for_timeout(300)  # a message, had one been sent, would have arrived
            assert page.evaluate("window.__messages") == []
