"""Codes and refresh tokens expire (5 minutes, STRONGBOX_OAUTH_REFRESH_TOKEN_DAYS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from auth.oauth.conftest import REDIRECT, authorize, pkce_pair, register
from strongbox.api.app import create_app
from strongbox.core.clock import FrozenClock
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_runtime
from support import make_merchant


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def frozen(settings: Settings, clock: FrozenClock) -> Iterator[tuple[Runtime, TestClient]]:
    rt = build_runtime(settings.model_copy(update={"oauth_refresh_token_days": 1}), clock=clock)
    app = create_app(rt, run_workers=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield rt, c
    rt.close()


def _token(c: TestClient, client_id: str, **data: str) -> Any:
    return c.post("/oauth/token", data={"client_id": client_id, **data})


def test_expired_code_and_refresh_token_are_invalid_grants(
    frozen: tuple[Runtime, TestClient], clock: FrozenClock
) -> None:
    rt, c = frozen
    merchant = make_merchant(rt)
    app = register(rt, merchant.id, kind="public", redirect_uris=[REDIRECT])
    verifier, challenge = pkce_pair()
    late = authorize(c, merchant, app, challenge)
    code = parse_qs(urlsplit(late.headers["location"]).query)["code"][0]
    clock.advance(timedelta(minutes=5, seconds=1))
    r = _token(c, app.id, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
               code_verifier=verifier)  # fmt: skip
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"

    verifier, challenge = pkce_pair()
    fresh = authorize(c, merchant, app, challenge)
    code = parse_qs(urlsplit(fresh.headers["location"]).query)["code"][0]
    tokens = _token(c, app.id, grant_type="authorization_code", code=code,
                    redirect_uri=REDIRECT, code_verifier=verifier).json()  # fmt: skip
    clock.advance(timedelta(days=1, seconds=1))
    r = _token(c, app.id, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
