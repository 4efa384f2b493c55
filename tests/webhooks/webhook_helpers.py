"""A local webhook receiver and helpers for the webhook tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import update

from strongbox.runtime import Runtime
from strongbox.webhooks import service
from strongbox.webhooks.delivery import Deliverer, DeliveryConfig
from strongbox.webhooks.models import WebhookDelivery, WebhookEndpoint


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None  # answer only once this is set (bounded: 120 s)


class Receiver:
    """An HTTP server on 127.0.0.1 recording every request; ``reply(path)`` decides answers."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.reply: Callable[[str], Reply] = lambda _path: Reply()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                r = outer.reply(self.path)
                if r.delay:
                    time.sleep(r.delay)
                if r.hold is not None:
                    r.hold.wait(120)
                self.send_response(r.status)
                for k, v in r.headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(r.body)))
                self.end_headers()
                self.wfile.write(r.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


def deliverer(rt: Runtime, **kw: Any) -> Deliverer:
    config = DeliveryConfig(
        timeout_seconds=kw.pop("timeout_seconds", 5.0),
        allow_private=kw.pop("allow_private", True),
        concurrency=kw.pop("concurrency", 16),
        poll_seconds=kw.pop("poll_seconds", 0.05),
    )
    return Deliverer(rt.db, rt.sealer, config, **kw)


def fanout(rt: Runtime) -> int:
    with rt.db.unit_of_work() as uow:
        n = service.fanout_once(uow)
        uow.commit()
    return n


def deliver(rt: Runtime, **kw: Any) -> int:
    """Fan out, then deliver everything due now, once."""
    fanout(rt)
    return asyncio.run(deliverer(rt, **kw).run_once())


def make_due(rt: Runtime) -> None:
    """Move every scheduled retry to now (instead of waiting minutes)."""
    with rt.db.unit_of_work() as uow:
        uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == "pending")
            .values(next_attempt_at=uow.clock.now())
        )
        # ... and end the back-off a failing endpoint is held in.
        uow.session.execute(update(WebhookEndpoint).values(claimed_until=None))
        uow.commit()


def create_endpoint(api: Any, url: str, events: list[str] | None = None, **extra: Any) -> Any:
    data: dict[str, Any] = {"url": url, "enabled_events[]": events or ["*"], **extra}
    r = api.post("/v1/webhook_endpoints", data=data)
    assert r.status_code == 200, r.text
    return r.json()


def create_payment(api: Any, **extra: Any) -> Any:
    data = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", **extra}
    r = api.post("/v1/payment_intents", data=data)
    assert r.status_code == 200, r.text
    return r.json()
