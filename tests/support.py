"""Helpers shared by tests (importable as ``support``; conftest provides the fixtures)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from strongbox.api.app import create_app
from strongbox.auth import service as auth
from strongbox.core.settings import Settings
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


def expire_leases(rt: Runtime) -> None:
    """As if the processes that held the attempts' leases died a lease ago (their gateway
    calls ended with them): every lease has run out, so recovery may take them over."""
    from datetime import timedelta

    from sqlalchemy import update

    from strongbox.payments.models import PaymentAttempt

    with rt.db.unit_of_work() as uow:
        past = uow.clock.now() - timedelta(seconds=1)
        uow.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.lease_until.is_not(None))
            .values(lease_until=past)
        )
        uow.commit()


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
        deadline = time.monotonic() + 120  # a bound for a server that cannot start
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("live server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)


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

ERROR_TYPES = {
    "api_error",
    "card_error",
    "idempotency_error",
    "invalid_request_error",
    "permission_error",  # a restricted key, role or scope without the permission (issue 17)
}


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


def create_vault_keys(settings: Settings) -> None:
    """Create the vault's first keys on ``settings``' database and key provider, unaudited.

    A runtime built afterwards on the same settings finds the keys and creates none, so its
    audit log starts empty: for tests that count entries and name leaf indexes from zero.
    (Production audits the start-up keys: ``build_runtime`` subscribes the audit log first.)
    """
    from strongbox.core.clock import SystemClock
    from strongbox.db.engine import make_engine
    from strongbox.db.migrate import upgrade
    from strongbox.db.uow import Database
    from strongbox.events.dispatcher import EventDispatcher
    from strongbox.runtime import prepare_data_dir
    from strongbox.vault.setup import build_vault

    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        prepare_data_dir(settings.data_dir)
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    db = Database(engine, SystemClock(), EventDispatcher())  # no subscriber: nothing audited
    vault = build_vault(settings, db)
    try:
        with db.unit_of_work() as uow:
            assert vault.keys.initialize(uow), "the vault already had keys"
            uow.commit()
    finally:
        vault.close()
        engine.dispose()


def wait_until(check: Callable[[], Any], what: str, seconds: float = 60.0) -> Any:
    """``check()``'s first truthy value, polled until ``seconds`` pass (a bound for a stuck
    server or loop, not for a slow machine); ``AssertionError`` naming ``what`` after that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
