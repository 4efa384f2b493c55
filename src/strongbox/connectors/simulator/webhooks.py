"""The simulator's own signed webhooks, sent the way a real gateway sends them.

``SimulatorWebhooks`` listens to a ``SimulatorEngine`` and, for each outcome (authorized,
captured, failed, voided, refund succeeded/failed, dispute opened), POSTs a signed event to
the URL registered for the payment's merchant, from a background thread, with retries.

Signatures follow Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``) under the account's
``whsec_…`` secret. The simulator signs with its own few lines (it is the gateway here).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.core.ids import random_token
from strongbox.core.secret import Secret

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Destination:
    url: str
    secret: Secret[str]  # whsec_…


class DeliveryFailed(Exception):
    pass


def sign(secret: Secret[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.reveal().removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    sig = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{sig}",
        "content-type": "application/json",
    }


def build(event: dict[str, Any], secret: Secret[str]) -> tuple[bytes, dict[str, str]]:
    """The body and signed headers for one engine event."""
    msg_id = f"sim_evt_{random_token()}"
    now = int(time.time())
    body = orjson.dumps(
        {"id": msg_id, "type": event["type"], "created": now, "data": event["data"]}
    )
    return body, sign(secret, msg_id, now, body)


class SimulatorWebhooks:
    def __init__(self, engine: SimulatorEngine, *, timeout: float = 5.0, retries: int = 5) -> None:
        self._destinations: dict[str, Destination] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._client = httpx.Client(timeout=timeout, trust_env=False)
        self._retries = retries
        self._thread = threading.Thread(target=self._run, name="simulator-webhooks", daemon=True)
        self._thread.start()
        self.sent = 0
        engine.add_listener(self._enqueue)

    def register(self, merchant_id: str, url: str, secret: Secret[str]) -> None:
        """Send the events of ``merchant_id``'s payments to ``url``, signed with ``secret``."""
        with self._lock:
            self._destinations[merchant_id] = Destination(url, secret)

    def _enqueue(self, event: dict[str, Any]) -> None:
        with self._lock:
            wanted = event.get("merchant_id") in self._destinations
        if wanted:
            self._queue.put(event)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued event was sent (or given up)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)
        self._client.close()

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self._send(event)
            except Exception:
                log.exception("simulator webhook could not be sent")
            finally:
                self._queue.task_done()

    def _send(self, event: dict[str, Any]) -> None:
        with self._lock:
            dest = self._destinations.get(str(event.get("merchant_id")))
        if dest is None:
            return
        body, headers = build(event, dest.secret)
        for attempt in Retrying(
            retry=retry_if_exception_type((DeliveryFailed, httpx.HTTPError)),
            stop=stop_after_attempt(self._retries),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            reraise=True,
        ):
            with attempt:
                resp = self._client.post(dest.url, content=body, headers=headers)
                if resp.status_code >= 500 or resp.status_code == 429:
                    raise DeliveryFailed(f"status {resp.status_code}")
        self.sent += 1
