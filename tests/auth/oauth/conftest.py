"""OAuth2 fixtures: clients registered for the test merchant, an HTTPS test client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.auth.oauth import clients
from strongbox.core.settings import Settings
from strongbox.events.types import RequestContext
from strongbox.runtime import Runtime
from support import Merchant

REDIRECT = "https://app.example.com/callback"


@dataclass(frozen=True)
class RegisteredClient:
    id: str
    secret: str | None

    @property
    def basic(self) -> dict[str, str]:
        assert self.secret is not None
        raw = f"{self.id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def register(
    runtime: Runtime,
    merchant_id: str,
    *,
    kind: str = "confidential",
    scope: str = "customers:write payment_intents:read",
    redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
) -> RegisteredClient:
    with runtime.db.unit_of_work() as uow:
        new = clients.create_client(
            uow,
            RequestContext(merchant_id=merchant_id, actor="test"),
            name="Test app",
            kind=kind,
            scope=scope,
            redirect_uris=redirect_uris,
            grant_types=grant_types,
        )
        uow.commit()
    return RegisteredClient(new.client.id, new.secret.reveal() if new.secret else None)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@pytest.fixture
def https(runtime: Runtime) -> Iterator[TestClient]:
    """A client on https://testserver (OAuth refuses plain HTTP off loopback)."""
    app = create_app(runtime, run_workers=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def service_client(runtime: Runtime, merchant: Merchant) -> RegisteredClient:
    return register(runtime, merchant.id)


@pytest.fixture
def app_client(runtime: Runtime, merchant: Merchant) -> RegisteredClient:
    return register(
        runtime,
        merchant.id,
        kind="public",
        redirect_uris=[REDIRECT],
        scope="customers:write payment_intents:read refunds:read",
    )


def authorize(
    https: TestClient,
    merchant: Merchant,
    client: RegisteredClient,
    challenge: str,
    *,
    scope: str = "customers:write",
    decision: str = "approve",
    extra: dict[str, str] | None = None,
) -> Any:
    params = {
        "response_type": "code",
        "client_id": client.id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **(extra or {}),
    }
    page = https.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    return https.post(
        "/oauth/authorize",
        data={**params, "secret_key": merchant.secret_key, "decision": decision},
        follow_redirects=False,
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The instance is reached over https (the issuer's scheme, RFC 8414)."""
    return settings.model_copy(update={"public_url": "https://testserver"})
