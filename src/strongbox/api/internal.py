"""The internal listener: an API for workers and operations, over mutual TLS only.

``strongbox serve --internal-port N`` (or ``internal_server``) runs it beside the public API,
as a second uvicorn server whose TLS context requires a client certificate issued by the
installation's CA (``auth/pki/ca.py``): ``ssl.CERT_REQUIRED``, TLS 1.2 or newer (1.3 is
preferred by OpenSSL), ECDHE with AES-GCM or ChaCha20 only. A missing certificate, one from
another CA, or an expired one fails the handshake.

Each request then maps the certificate to a service identity: its serial must be in the
registry (``identities.json``), unrevoked and absent from the CRL (both re-read when they
change, so a revocation applies at once, without a restart), and its subject CN must be the
registered name. The identity's permissions (``auth/permissions.py``) decide what it may do.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from strongbox.api.responses import dumps, error_response, json_response
from strongbox.audit.models import AuditEntry
from strongbox.auth import permissions
from strongbox.auth.pki import tls
from strongbox.auth.pki.ca import LISTENER, Identity, Pki
from strongbox.core.clock import Clock
from strongbox.core.errors import AuthenticationError, PermissionError_, StrongboxError
from strongbox.runtime import Runtime

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def server_context(pki: Pki) -> ssl.SSLContext:
    """The listener's TLS (``auth/pki/tls.py``): client certificates from our CA only.

    Revocation is checked per request (``Identities``), so that it applies at once."""
    return tls.server_context(pki.cert_path(LISTENER), pki.key_path(LISTENER), pki.ca_cert_path)


class Identities:
    """Certificate -> service identity, from the registry and the CRL (re-read on change)."""

    def __init__(self, pki: Pki, clock: Clock) -> None:
        self._pki = pki
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[float, float] | None = None
        self._by_serial: dict[int, Identity] = {}
        self._crl: set[int] = set()

    def _reload(self) -> None:
        stamp = (
            self._pki.registry_path.stat().st_mtime,
            self._pki.crl_path.stat().st_mtime,
        )
        if stamp == self._stamp:
            return
        ca = x509.load_pem_x509_certificate(self._pki.ca_cert_path.read_bytes())
        crl = x509.load_pem_x509_crl(self._pki.crl_path.read_bytes())
        ca_key = ca.public_key()
        if not isinstance(ca_key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(ca_key):
            raise ValueError("the CRL is not signed by the CA")
        self._crl = {r.serial_number for r in crl}
        self._by_serial = {i.serial: i for i in self._pki.identities()}
        self._stamp = stamp

    def lookup(self, pem: str) -> Identity | None:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        with self._lock:
            self._reload()
            identity = self._by_serial.get(cert.serial_number)
            revoked = cert.serial_number in self._crl
        if identity is None or revoked or identity.revoked:
            return None
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if [n.value for n in names] != [identity.name]:
            return None
        now = self._clock.now()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return None
        return identity


@dataclass(frozen=True, slots=True)
class Service:
    identity: Identity

    def require(self, resource: str, action: permissions.Action) -> None:
        if not permissions.allows(self.identity.permissions, resource, action):
            raise PermissionError_(
                f"The service {self.identity.name} lacks the permission {resource}:{action}.",
                code="permission_denied",
            )


def _service(request: Request) -> Service:
    service: Service = request.scope["strongbox.service"]
    return service


async def _render_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StrongboxError):  # registered for StrongboxError only
        raise exc
    return error_response(exc)


def create_internal_app(rt: Runtime, identities: Identities) -> ASGIApp:
    def whoami(request: Request) -> Response:
        ident = _service(request).identity
        body = {
            "object": "service_identity",
            "name": ident.name,
            "serial": format(ident.serial, "x"),
            "permissions": sorted(ident.permissions),
        }
        return json_response(200, dumps(body))

    def healthz(request: Request) -> Response:
        db_ok = rt.db.ping()
        return json_response(
            200 if db_ok else 503, dumps({"status": "ok" if db_ok else "degraded"})
        )

    def audit_entries(request: Request) -> Response:
        _service(request).require("audit", "read")
        with rt.db.read() as session:
            count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        return json_response(200, dumps({"object": "audit_entries", "count": int(count)}))

    inner = Starlette(
        routes=[
            Route("/internal/whoami", whoami),
            Route("/internal/healthz", healthz),
            Route("/internal/audit/entries", audit_entries),
        ],
        exception_handlers={StrongboxError: _render_error},
    )

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
        identity = None
        if chain:
            identity = await asyncio.to_thread(identities.lookup, chain[0])
        if identity is None:
            err = (
                AuthenticationError("A client certificate is required.")
                if not chain
                else PermissionError_(
                    "This certificate is revoked, expired or not a registered service.",
                    code="certificate_refused",
                )
            )
            await error_response(err)(scope, receive, send)
            return
        scope["strongbox.service"] = Service(identity)
        await inner(scope, receive, send)

    return app


class PeerCertProtocol(H11Protocol):
    """uvicorn's h11 protocol that passes the verified client certificate to the app
    (the ASGI TLS extension: ``scope["extensions"]["tls"]["client_cert_chain"]``)."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        version = ssl_object.version() if ssl_object is not None else None
        app = self.app

        async def with_tls(scope: Scope, receive: Any, send: Any) -> None:
            extensions = {
                **scope.get("extensions", {}),
                "tls": {"client_cert_chain": chain, "tls_version": version},
            }
            await app({**scope, "extensions": extensions}, receive, send)

        self.app = with_tls


def internal_config(rt: Runtime, pki_dir: Path, host: str, port: int) -> uvicorn.Config:
    pki = Pki(pki_dir, rt.sealer)
    app = create_internal_app(rt, Identities(pki, rt.db.clock))
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=PeerCertProtocol,
        ssl_context_factory=lambda _config, _default: server_context(pki),
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


class InternalServer:
    """The internal listener in a thread of its own (``start``/``stop``)."""

    def __init__(self, config: uvicorn.Config, sockets: list[Any] | None = None) -> None:
        self.server = uvicorn.Server(config)
        self._sockets = sockets
        self._thread = threading.Thread(target=self._run, name="internal-listener", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=self._sockets)

    def start(self) -> None:
        self._thread.start()

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(30)
