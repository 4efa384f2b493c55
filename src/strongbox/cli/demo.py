"""``strongbox demo``: a scripted tour of the payments API on a throwaway embedded instance.

Every step goes through the real HTTP API (uvicorn on a free local port, in a thread), prints
what it sent and what came back, and checks the result; the first surprise raises ``DemoError``
so the command exits non-zero. A temporary data directory is removed at the end.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from strongbox.core.money import format_amount, parse_currency
from strongbox.core.settings import Settings

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from strongbox.core.secret import Secret

__all__ = ["DemoError", "run_demo"]

Echo = Callable[[str], None]

_START_TIMEOUT = 15.0


class DemoError(RuntimeError):
    """A demo step did not produce what it should have."""


def _money(amount: object, currency: object) -> str:
    if not isinstance(amount, int) or not isinstance(currency, str):
        return f"{amount} {currency}"
    return format_amount(amount, parse_currency(currency))


def _masked(key: Secret[str]) -> str:
    raw = key.reveal()
    return f"{raw[:8]}...{raw[-4:]}"


def _summary(params: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


class _Tour:
    """Sends requests, prints them, and checks the answers."""

    def __init__(self, client: httpx.Client, secret_key: Secret[str], echo: Echo) -> None:
        self.client = client
        self._auth = {"Authorization": f"Bearer {secret_key.reveal()}"}
        self.echo = echo
        self.step = 0

    def title(self, text: str) -> None:
        self.step += 1
        self.echo("")
        self.echo(f"{self.step}. {text}")

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        expect: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        shown = f"   -> {method} {path}"
        if params:
            shown += f"  {_summary(params)}"
        if headers and "Idempotency-Key" in headers:
            shown += f"  (Idempotency-Key: {headers['Idempotency-Key']})"
        self.echo(shown)
        response = self.client.request(
            method,
            path,
            data=dict(params) if params and method != "GET" else None,
            params=dict(params) if params and method == "GET" else None,
            headers={**self._auth, **(headers or {})},
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code != expect:
            error = body.get("error")
            if isinstance(error, dict):
                detail = f"{error.get('type')}: {error.get('message')}"
            elif "object" in body:
                detail = f"{body.get('object')} {body.get('id')} status={body.get('status')}"
            else:
                detail = response.text[:200]
            raise DemoError(
                f"step {self.step}: {method} {path} answered HTTP {response.status_code} "
                f"(expected {expect}): {detail}"
            )
        return body, response.headers

    def show(self, status: int, text: str) -> None:
        self.echo(f"   <- {status} {text}")

    def check(self, condition: bool, what: str) -> None:
        if not condition:
            raise DemoError(f"step {self.step}: expected {what}")
        self.echo(f"   ok: {what}")


def _intent_line(pi: Mapping[str, Any]) -> str:
    parts = [str(pi.get("id")), f"status={pi.get('status')}"]
    currency = pi.get("currency")
    parts.append(f"amount={_money(pi.get('amount'), currency)}")
    if pi.get("amount_capturable"):
        parts.append(f"capturable={_money(pi.get('amount_capturable'), currency)}")
    if pi.get("amount_received"):
        parts.append(f"received={_money(pi.get('amount_received'), currency)}")
    return "  ".join(parts)


def _tour(t: _Tour) -> None:
    # 1. create
    t.title("Create a PaymentIntent for $20.00")
    pi, _ = t.call("POST", "/v1/payment_intents", {"amount": "2000", "currency": "usd"})
    t.show(200, _intent_line(pi))
    t.check(pi.get("status") == "requires_payment_method", "status requires_payment_method")
    pi_id = str(pi["id"])

    # 2. confirm
    t.title("Confirm it with Stripe's test card pm_card_visa")
    pi, _ = t.call(
        "POST", f"/v1/payment_intents/{pi_id}/confirm", {"payment_method": "pm_card_visa"}
    )
    t.show(200, _intent_line(pi))
    t.check(pi.get("status") == "succeeded", "status succeeded")
    t.check(pi.get("amount_received") == 2000, "amount_received 2000 ($20.00)")

    # 3. manual capture
    t.title("Authorize $50.00 now, capture $30.00 later (capture_method=manual)")
    auth, _ = t.call(
        "POST",
        "/v1/payment_intents",
        {
            "amount": "5000",
            "currency": "usd",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        },
    )
    t.show(200, _intent_line(auth))
    t.check(auth.get("status") == "requires_capture", "status requires_capture")
    t.check(auth.get("amount_capturable") == 5000, "amount_capturable 5000 ($50.00)")
    cap, _ = t.call(
        "POST", f"/v1/payment_intents/{auth['id']}/capture", {"amount_to_capture": "3000"}
    )
    t.show(200, _intent_line(cap))
    t.check(cap.get("status") == "succeeded", "status succeeded")
    t.check(cap.get("amount_received") == 3000, "amount_received 3000 ($30.00)")
    t.check(cap.get("amount_capturable") == 0, "nothing left to capture")

    # 4. partial refund
    t.title("Refund $5.00 of the first payment")
    refund, _ = t.call("POST", "/v1/refunds", {"payment_intent": pi_id, "amount": "500"})
    t.show(
        200,
        f"{refund.get('id')}  status={refund.get('status')}  "
        f"amount={_money(refund.get('amount'), refund.get('currency'))}",
    )
    t.check(refund.get("status") == "succeeded", "refund succeeded")
    t.check(refund.get("amount") == 500, "refund amount 500 ($5.00)")
    listed, _ = t.call("GET", "/v1/refunds", {"payment_intent": pi_id})
    refunded = sum(int(r.get("amount", 0)) for r in listed.get("data", []))
    t.show(200, f"{len(listed.get('data', []))} refund(s), {_money(refunded, 'usd')} in total")
    t.check(refunded == 500, "$5.00 refunded, $15.00 kept")

    # 5. decline
    t.title("Pay with a card that gets declined (pm_card_chargeDeclinedInsufficientFunds)")
    body, _ = t.call(
        "POST",
        "/v1/payment_intents",
        {
            "amount": "1000",
            "currency": "usd",
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            "confirm": "true",
        },
        expect=402,
    )
    err = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
    failed = err.get("payment_intent") or {}
    t.show(
        402,
        f"{err.get('type')}  code={err.get('code')}  decline_code={err.get('decline_code')}  "
        f"message={err.get('message')!r}",
    )
    t.check(err.get("code") == "card_declined", "error code card_declined")
    t.check(err.get("decline_code") == "insufficient_funds", "decline_code insufficient_funds")
    t.check(
        failed.get("status") == "requires_payment_method",
        "the PaymentIntent is back to requires_payment_method (the customer may retry)",
    )

    # 6. 3DS
    t.title("A card that needs 3D Secure (pm_card_authenticationRequired)")
    action, _ = t.call(
        "POST",
        "/v1/payment_intents",
        {
            "amount": "4200",
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": "true",
            "return_url": "https://shop.example/checkout/done",
        },
    )
    t.show(200, _intent_line(action))
    t.check(action.get("status") == "requires_action", "status requires_action")
    next_action = action.get("next_action") or {}
    url = str((next_action.get("redirect_to_url") or {}).get("url") or "")
    t.check(bool(url), "a next_action.redirect_to_url.url for the customer")
    t.echo(f"   the customer is sent to {url}")
    complete = urlsplit(url).path + "/complete"
    t.echo(f"   -> POST {complete}  (the customer passes the challenge)")
    done = t.client.post(complete, headers={"Accept": "application/json"})
    t.show(done.status_code, "challenge completed")
    t.check(done.status_code == 200, "the simulator accepted the challenge")
    after, _ = t.call("GET", f"/v1/payment_intents/{action['id']}")
    t.show(200, _intent_line(after))
    t.check(after.get("status") == "succeeded", "status succeeded after authentication")
    t.check(after.get("amount_received") == 4200, "amount_received 4200 ($42.00)")

    # 7. idempotent replay
    t.title("Send the same request twice with one Idempotency-Key")
    params = {
        "amount": "1500",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
    }
    key = {"Idempotency-Key": "demo-order-1001"}
    first, h1 = t.call("POST", "/v1/payment_intents", params, headers=key)
    t.show(200, _intent_line(first))
    second, h2 = t.call("POST", "/v1/payment_intents", params, headers=key)
    replayed = h2.get("idempotent-replayed")
    t.show(200, f"{_intent_line(second)}  Idempotent-Replayed: {replayed}")
    t.check(second.get("id") == first.get("id"), "the same PaymentIntent both times")
    t.check(replayed == "true", "the second answer is a replay (Idempotent-Replayed: true)")
    t.check(h1.get("idempotent-replayed") is None, "the first answer was not a replay")
    everything, _ = t.call("GET", "/v1/payment_intents", {"limit": "100"})
    charged = [p for p in everything.get("data", []) if p.get("id") == first.get("id")]
    t.show(200, f"{len(everything.get('data', []))} PaymentIntents in this demo account")
    t.check(len(charged) == 1, "one payment was made, not two")


@contextmanager
def _data_dir(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        yield data_dir
        return
    tmp = Path(tempfile.mkdtemp(prefix="strongbox-demo-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _serve(app: FastAPI, sock: socket.socket) -> Iterator[None]:
    """Serve ``app`` with uvicorn on ``sock`` in a daemon thread until the block ends."""
    import uvicorn

    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="strongbox-demo", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DemoError("the demo API server did not start")
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def run_demo(data_dir: Path | None, echo: Echo) -> None:
    """Run the tour; raises ``DemoError`` (or the underlying error) if any step fails."""
    import httpx

    from strongbox.api.app import create_app
    from strongbox.auth import service as auth
    from strongbox.runtime import build_runtime

    with _data_dir(data_dir) as directory, socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = Settings(
            data_dir=directory,
            database_url=None,  # always the embedded SQLite file, whatever the environment
            simulator_url=None,  # the in-process simulator serves the 3DS challenge pages
            public_url=base_url,  # so 3DS links point at this server
            run_workers=False,
        )
        rt = build_runtime(settings)
        try:
            with rt.db.unit_of_work() as uow:
                new = auth.create_merchant(uow, "Demo shop")
                uow.commit()
            echo(f"Strongbox demo: a temporary embedded instance in {directory}")
            echo(f"API on {base_url}")
            echo(f"Merchant {new.merchant.id} (secret key {_masked(new.secret_key)})")
            with (
                _serve(create_app(rt, run_workers=False), sock),
                httpx.Client(base_url=base_url, timeout=30.0, trust_env=False) as client,
            ):
                tour = _Tour(client, new.secret_key, echo)
                _tour(tour)
            echo("")
            echo(f"All {tour.step} steps behaved as expected.")
        finally:
            rt.close()
