"""Arbitrary input on the OAuth2 endpoints is a 4xx, never a 5xx, and writes nothing."""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth.oauth.conftest import REDIRECT, RegisteredClient
from strongbox.auth.oauth.models import (
    OAuthAuthorizationCode,
    OAuthRefreshToken,
    OAuthRevokedAccessToken,
)
from strongbox.runtime import Runtime

FIELDS = st.sampled_from(
    [
        "grant_type",
        "code",
        "redirect_uri",
        "client_id",
        "client_secret",
        "code_verifier",
        "refresh_token",
        "scope",
        "token",
        "token_type_hint",
        "response_type",
        "state",
        "code_challenge",
        "code_challenge_method",
        "secret_key",
        "decision",
    ]
)
VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["authorization_code", "refresh_token", "client_credentials", "code", "S256", "plain",
         "approve", "customers:write", "eyJ.eyJ.x", "CLIENT", REDIRECT, "\x00", "é\"\\<>",
         "sk_test_x"]
    ),
)  # fmt: skip
FORMS = st.lists(st.tuples(FIELDS, VALUES), max_size=8)
HEADERS = st.sampled_from(
    [{}, {"Authorization": "Basic !!!"}, {"Authorization": "Basic b2FjX3g6eQ=="},
     {"Authorization": "Bearer sk_test_nope"}]
)  # fmt: skip


def _written(runtime: Runtime) -> int:
    with runtime.db.engine.connect() as conn:
        return sum(
            int(conn.scalar(sa.select(sa.func.count()).select_from(m)) or 0)
            for m in (OAuthAuthorizationCode, OAuthRefreshToken, OAuthRevokedAccessToken)
        )


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        ["/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/authorize"]
    ),
    form=FORMS,
    headers=HEADERS,
    query=FORMS,
)
def test_never_a_server_error(
    https: TestClient,
    runtime: Runtime,
    app_client: RegisteredClient,
    path: str,
    form: list[tuple[str, str]],
    headers: dict[str, str],
    query: list[tuple[str, str]],
) -> None:
    form = [(k, app_client.id if v == "CLIENT" else v) for k, v in form]
    query = [(k, app_client.id if v == "CLIENT" else v) for k, v in query]
    before = _written(runtime)
    post = https.post(
        path,
        content=urlencode(form).encode(),
        params=query,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert post.status_code < 500, post.text
    if path == "/oauth/authorize":
        got = https.get(path, params=query + form, follow_redirects=False)
        assert got.status_code < 500, got.text
    if post.status_code >= 400:
        assert _written(runtime) == before
    raw = https.post(
        path,
        content=b"\xff\xfe=\x00&&==",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= raw.status_code < 500
