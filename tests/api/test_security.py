"""Unit tests of api/security.py: trusted proxies, public paths, allowed methods."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from strongbox.api.security import (
    TrustedProxies,
    allowed_methods,
    is_public_path,
    is_public_route,
    public_paths,
    public_route,
)


def _scope(peer: str, **headers: str) -> dict[str, object]:
    return {
        "type": "http",
        "scheme": "http",
        "client": (peer, 1234),
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_no_trusted_proxy_means_the_peer_is_the_client() -> None:
    proxies = TrustedProxies("")
    scope = _scope("192.0.2.1", x_forwarded_for="198.51.100.7", x_forwarded_proto="https")
    assert proxies.client_address(scope) == "192.0.2.1"
    assert not proxies.is_tls(scope)


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    proxies = TrustedProxies("10.0.0.0/8, 2001:db8::/32")
    spoofed = "6.6.6.6, 198.51.100.7, 10.1.1.1"  # the client prepended a fake hop
    scope = _scope("10.0.0.2", x_forwarded_for=spoofed, x_forwarded_proto="https")
    assert proxies.client_address(scope) == "198.51.100.7"
    assert proxies.is_tls(scope)
    assert proxies.client_address(_scope("2001:db8::5")) == "2001:db8::5"
    assert proxies.client_address(_scope("10.0.0.2", x_forwarded_for="10.9.9.9")) == "10.0.0.2"
    assert proxies.trusts("not an ip") is False


def test_a_bad_proxy_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="STRONGBOX_TRUSTED_PROXIES"):
        TrustedProxies("10.0.0.0/8, proxy.example")


def test_public_paths_are_exact_or_prefixed() -> None:
    assert is_public_path("/openapi.json")
    assert is_public_path("/simulator/3ds/x")
    assert not is_public_path("/openapi.json/x")
    assert not is_public_path("/healthz")  # public by its marker, not by a list
    assert not is_public_path("/v1/customers")
    assert not is_public_path("/simulatorx")


def test_routes_declare_themselves_public_with_the_marker() -> None:
    def probe() -> None: ...

    def private() -> None: ...

    assert public_route(probe) is probe
    assert is_public_route("/anything", probe)
    assert not is_public_route("/anything", private)
    assert is_public_route("/docs", private)  # FastAPI's own route, by path


def test_the_health_routes_are_public_by_their_marker(
    client: TestClient,
) -> None:
    public = public_paths(client.app.routes)  # type: ignore[attr-defined]
    assert {"/healthz", "/healthz/keys"} <= public
    assert "/metrics" not in public  # its own listener (tests/api/test_metrics.py)
    assert "/v1/customers" not in public


def test_allowed_methods_cover_every_route_at_a_path() -> None:
    from starlette.routing import Route

    async def ep(_: object) -> None:
        return None

    routes = [
        Route("/v1/things", ep, methods=["GET"]),
        Route("/v1/things", ep, methods=["POST"]),
        Route("/v1/things/{id}", ep, methods=["DELETE"]),
    ]
    assert allowed_methods(routes, "/v1/things") == ["GET", "HEAD", "POST"]
    assert allowed_methods(routes, "/v1/things/abc") == ["DELETE"]
    assert allowed_methods(routes, "/v1/other") == []
