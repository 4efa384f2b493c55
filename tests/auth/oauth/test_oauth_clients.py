"""Client registration rules: redirect URIs, kinds and grants, scope (unit level)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.auth.oauth.clients import check_redirect_uri, create_client
from strongbox.core.errors import InvalidRequestError
from strongbox.events.types import RequestContext
from strongbox.runtime import Runtime
from support import Merchant


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?x=1",
        "http://127.0.0.1:53124/cb",
        "http://localhost/cb",
        "http://[::1]:8080/cb",
        "com.example.app:/oauth2redirect",
    ],
)
def test_accepted_redirect_uris(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/cb",  # plain http off loopback
        "https://app.example.com/cb#frag",
        "javascript:alert(1)",
        "myapp:/cb",  # a private scheme must be in reverse-domain form
        "https:///nohost",
        "https://app.example.com/a b",
        "",
        "https://x.example/" + "a" * 2000,
    ],
)
def test_refused_redirect_uris(uri: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_redirect_uri(uri)
    assert info.value.param == "redirect_uris"


@given(st.text(max_size=80))
def test_redirect_uri_check_never_crashes(uri: str) -> None:
    with contextlib.suppress(InvalidRequestError):  # refused is fine; anything else is not
        assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    ("kind", "uris", "grants", "param"),
    [
        ("public", [], None, "redirect_uris"),  # a public client needs the code flow
        ("public", ["https://a.example/cb"], ["client_credentials"], "grant_types"),
        ("confidential", [], ["authorization_code"], "redirect_uris"),
        ("confidential", [], ["refresh_token"], "grant_types"),
        ("confidential", ["https://a.example/cb"] * 2, None, "redirect_uris"),
        ("trusted", [], None, "client_type"),
    ],
)
def test_kind_and_grant_rules(
    runtime: Runtime,
    merchant: Merchant,
    kind: str,
    uris: list[str],
    grants: list[str] | None,
    param: str,
) -> None:
    with runtime.db.unit_of_work() as uow, pytest.raises(InvalidRequestError) as info:
        create_client(
            uow,
            RequestContext(merchant_id=merchant.id, actor="test"),
            name="x",
            kind=kind,
            scope="customers:read",
            redirect_uris=uris,
            grant_types=grants,
        )
    assert info.value.param == param


def test_defaults_and_normalized_scope(runtime: Runtime, merchant: Merchant) -> None:
    ctx = RequestContext(merchant_id=merchant.id, actor="test")
    with runtime.db.unit_of_work() as uow:
        service = create_client(
            uow,
            ctx,
            name="svc",
            kind="confidential",
            scope="refunds:read customers:write  customers:write",
        )
        app = create_client(
            uow, ctx, name="app", kind="public", scope="customers:read",
            redirect_uris=["https://a.example/cb"],
        )  # fmt: skip
    assert service.client.grant_types == ["client_credentials"]
    assert service.client.scope == "customers:write refunds:read"
    assert service.secret is not None
    assert "oacs_" not in repr(service)  # the secret is masked
    assert app.client.grant_types == ["authorization_code", "refresh_token"]
    assert app.secret is None
