"""The internal listener over real TLS on loopback: a registered service certificate works;
a missing, foreign-CA, expired or revoked one is refused; TLS below 1.2 is refused."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from strongbox.api.internal import InternalServer, internal_config
from strongbox.auth.pki.ca import Pki, PkiError
from strongbox.runtime import Runtime
from support import wait_until


@dataclass
class Listener:
    url: str
    port: int
    pki: Pki


@pytest.fixture
def pki(runtime: Runtime, tmp_path: Path) -> Pki:
    pki = Pki(tmp_path / "pki", runtime.sealer)
    now = datetime.now(UTC)
    pki.init(now, hosts=["127.0.0.1", "localhost"])
    pki.issue("worker", ["audit:read"], now)
    pki.issue("ops", [], now)
    pki.issue("old", ["audit:read"], now, not_before=now - timedelta(days=10), days=1)
    return pki


@pytest.fixture
def listener(runtime: Runtime, pki: Pki) -> Iterator[Listener]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = InternalServer(internal_config(runtime, pki.dir, "127.0.0.1", port), [sock])
    server.start()
    try:
        wait_until(lambda: server.started, "the internal listener to start")
        yield Listener(f"https://127.0.0.1:{port}", port, pki)
    finally:
        server.stop()
        sock.close()


def _client(pki: Pki, name: str | None, *, ca: Pki | None = None) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert_path))
    if name is not None:
        issuer = ca or pki
        ctx.load_cert_chain(issuer.cert_path(name), issuer.key_path(name))
    return httpx.Client(verify=ctx, timeout=30)


def test_a_registered_service_is_identified_with_its_permissions(listener: Listener) -> None:
    with _client(listener.pki, "worker") as c:
        me = c.get(f"{listener.url}/internal/whoami")
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "worker"
        assert me.json()["permissions"] == ["audit:read"]
        entries = c.get(f"{listener.url}/internal/audit/entries")
        assert entries.status_code == 200
        assert entries.json()["object"] == "audit_entries"
    with _client(listener.pki, "ops") as c:
        denied = c.get(f"{listener.url}/internal/audit/entries")
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "permission_denied"
        assert c.get(f"{listener.url}/internal/healthz").status_code == 200


def test_no_client_certificate_is_refused(listener: Listener) -> None:
    with _client(listener.pki, None) as c, pytest.raises(httpx.TransportError):
        c.get(f"{listener.url}/internal/whoami")


def test_a_certificate_from_another_ca_is_refused(
    listener: Listener, runtime: Runtime, tmp_path: Path
) -> None:
    foreign = Pki(tmp_path / "foreign", runtime.sealer)
    now = datetime.now(UTC)
    foreign.init(now, hosts=["127.0.0.1"])
    foreign.issue("worker", ["audit:read"], now)  # same name, other CA
    with _client(listener.pki, "worker", ca=foreign) as c, pytest.raises(httpx.TransportError):
        c.get(f"{listener.url}/internal/whoami")


def test_an_expired_certificate_is_refused(listener: Listener) -> None:
    with _client(listener.pki, "old") as c, pytest.raises(httpx.TransportError):
        c.get(f"{listener.url}/internal/whoami")


def test_a_revoked_certificate_is_refused_at_once(listener: Listener) -> None:
    with _client(listener.pki, "worker") as c:
        assert c.get(f"{listener.url}/internal/whoami").status_code == 200
    listener.pki.revoke("worker", datetime.now(UTC))
    with _client(listener.pki, "worker") as c:
        r = c.get(f"{listener.url}/internal/whoami")
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "certificate_refused"
    with pytest.raises(PkiError):
        listener.pki.revoke("worker", datetime.now(UTC))  # nothing left to revoke


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_13_is_negotiated_and_tls_11_refused(listener: Listener) -> None:
    pki = listener.pki
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert_path))
    ctx.load_cert_chain(pki.cert_path("worker"), pki.key_path("worker"))
    with (
        socket.create_connection(("127.0.0.1", listener.port), timeout=30) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.3"
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(cafile=str(pki.ca_cert_path))
    old.load_cert_chain(pki.cert_path("worker"), pki.key_path("worker"))
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", listener.port), timeout=30) as raw,
        pytest.raises(ssl.SSLError),
    ):
        old.wrap_socket(raw, server_hostname="127.0.0.1")
