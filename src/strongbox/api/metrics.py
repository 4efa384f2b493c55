"""Prometheus metrics, served away from the public API port.

Metric labels name merchants and connector accounts
(``strongbox_circuit_state{merchant="acct_…",target="mca_…"}``), so metrics are not served on
the public API port to anyone who asks. ``strongbox serve`` starts a listener of their own,
bound to loopback by default (``--metrics-host`` / ``--metrics-port``,
``STRONGBOX_METRICS_HOST`` / ``STRONGBOX_METRICS_PORT``; port ``0``: no listener). The public
port answers ``/metrics`` only when ``STRONGBOX_METRICS_TOKEN`` is set, and then only to
``Authorization: Bearer <token>``; otherwise it is a 404 like any unknown route.

``serve --processes N`` uses prometheus_client's multiprocess mode: the API processes write
their samples to files in one directory (``PROMETHEUS_MULTIPROC_DIR``, a fresh temporary one
unless the operator set it), and the one listener, in the supervising process, serves their
sum (counters, histograms) or the most recent value (gauges). One scrape target, whatever N.
"""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry
from pydantic import SecretStr
from starlette.responses import Response

from strongbox.api.context import request_id
from strongbox.api.responses import error_response
from strongbox.api.security import public_route
from strongbox.core.errors import AuthenticationError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def registry() -> CollectorRegistry:
    """This process's metrics, or every API process's when they share a directory."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return REGISTRY
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
    return merged


@dataclass
class MetricsListener:
    server: WSGIServer
    thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def start_listener(host: str, port: int) -> MetricsListener:
    """Serve ``registry()`` on ``host:port`` from a daemon thread (any path answers)."""
    server, thread = start_http_server(port, addr=host, registry=registry())
    return MetricsListener(server, thread)


@contextmanager
def multiprocess_directory() -> Iterator[str]:
    """``PROMETHEUS_MULTIPROC_DIR`` for the API processes about to start: the operator's if
    set, else a fresh temporary directory, removed afterwards (stale files would add a dead
    process's counts to the new ones)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        yield given
        return
    path = tempfile.mkdtemp(prefix="strongbox-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def install_token_route(app: FastAPI, token: SecretStr | None) -> None:
    """``GET /metrics`` on the public port, only with a configured token (else no route)."""
    if token is None:
        return
    expected = token.get_secret_value().encode()

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (bearer token)")
    @public_route  # no API key: the metrics token instead
    def prometheus(request: Request) -> Response:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
            err = AuthenticationError(
                "Metrics need the metrics token (Authorization: Bearer).",
                code="metrics_token_invalid",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
            return error_response(err, {"Request-Id": request_id(request)})
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)
