"""Fixtures for operator identity tests: a runtime on a frozen clock, an HTTPS client (the
session cookie is ``Secure``), and helpers that create operators and sign them in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth import operators, totp
from strongbox.core.clock import FrozenClock
from strongbox.core.secret import Secret
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_runtime
from support import Merchant, make_merchant

PASSWORD = "correct horse battery staple 42"  # pragma: allowlist secret


@dataclass
class Clocked:
    rt: Runtime
    clock: FrozenClock
    merchant: Merchant

    def client(self) -> TestClient:
        app = create_app(self.rt, run_workers=False)
        return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)

    def operator(self, email: str, role: str = "developer") -> str:
        from strongbox.events.types import RequestContext

        with self.rt.db.unit_of_work() as uow:
            ctx = RequestContext(merchant_id=self.merchant.id, actor="cli")
            op = operators.create(uow, ctx, email, role, Secret(PASSWORD))
            uow.commit()
            return op.id

    def code(self, seed: str, steps_ahead: int = 0) -> str:
        step = totp.step_of(self.clock.now()) + steps_ahead
        return totp.code_at(Secret(seed), step)


@pytest.fixture
def clocked(settings: Settings) -> Iterator[Clocked]:
    clock = FrozenClock()
    rt = build_runtime(settings, clock=clock)
    yield Clocked(rt, clock, make_merchant(rt))
    rt.close()


def sign_in(c: TestClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    r = c.post("/operator/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    c.headers["X-CSRF-Token"] = body["csrf_token"]
    return body


def enroll_totp(c: TestClient, env: Clocked) -> tuple[str, list[str]]:
    """Enroll TOTP on a (pending) session: the seed and the recovery codes."""
    start = c.post("/operator/factors/totp")
    assert start.status_code == 200, start.text
    seed = start.json()["secret"]
    done = c.post("/operator/factors/totp/confirm", json={"code": env.code(seed)})
    assert done.status_code == 200, done.text
    return seed, done.json()["recovery_codes"]


def signed_in(env: Clocked, email: str, role: str = "developer") -> tuple[TestClient, str]:
    """A client of a new operator, fully signed in (TOTP enrolled); and the TOTP seed."""
    env.operator(email, role)
    c = env.client()
    sign_in(c, email)
    seed, _ = enroll_totp(c, env)
    return c, seed
