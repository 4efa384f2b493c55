"""Helpers shared by tests (importable as ``support``; conftest provides the fixtures)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.runtime import Runtime


@dataclass
class Merchant:
    id: str
    secret_key: str
    publishable_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}


def make_merchant(rt: Runtime, name: str = "Test merchant") -> Merchant:
    with rt.db.unit_of_work() as uow:
        new = auth.create_merchant(uow, name)
        uow.commit()
    return Merchant(new.merchant.id, new.secret_key.reveal(), new.publishable_key.reveal())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, rt: Runtime, *, workers: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(rt, run_workers=workers),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("live server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


# Stripe's PaymentIntent statuses, written out independently of strongbox.payments.state.
STRIPE_STATUSES = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
}

ERROR_TYPES = {"api_error", "card_error", "idempotency_error", "invalid_request_error"}


def error_of(r: Any, status: int | None = None, *, type_: str | None = None) -> dict[str, Any]:
    """The error object of a Stripe-shaped error response (any 4xx if ``status`` is None)."""
    if status is None:
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
    else:
        assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert err["type"] in ERROR_TYPES, err
    assert isinstance(err["message"], str)
    assert err["message"]
    for key in ("code", "param", "decline_code"):
        if key in err:
            assert isinstance(err[key], str)
    if type_ is not None:
        assert err["type"] == type_, err
    return err


def drop_startup_audit_entries(runtime: Runtime) -> None:
    """Drop the audit entries of the vault's start-up keys (tests that count from zero)."""
    import sqlalchemy as sa

    from strongbox.audit.models import AuditEntry

    with runtime.db.unit_of_work() as uow:
        integrated = uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.leaf_index.is_not(None))
        )
        assert integrated == 0, "the audit log was integrated before the test started"
        uow.session.execute(sa.delete(AuditEntry).where(AuditEntry.action.like("strongbox.key.%")))
        uow.commit()
