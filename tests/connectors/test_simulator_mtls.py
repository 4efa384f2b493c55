"""A split simulator behind mutual TLS: the API pays through it with its client certificate;
a missing, foreign-CA, expired or revoked certificate is refused in the handshake."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from strongbox.api.app import create_app
from strongbox.api.internal import InternalServer
from strongbox.auth.pki.ca import Pki
from strongbox.auth.pki.tls import client_context, server_context
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.connectors.simulator.http import create_app as simulator_app
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime, build_runtime
from support import make_merchant, wait_until


@dataclass
class Simulator:
    url: str
    pki: Pki


@pytest.fixture
def simulator(runtime: Runtime, tmp_path: Path) -> Iterator[Simulator]:
    pki = Pki(tmp_path / "pki", runtime.sealer)
    now = datetime.now(UTC)
    pki.init(now, hosts=["127.0.0.1"])
    pki.issue("simulator", [], now, server_hosts=["127.0.0.1"])
    pki.issue("api", [], now)
    pki.issue("revoked-api", [], now)
    pki.issue("old-api", [], now, not_before=now - timedelta(days=10), days=1)
    pki.revoke("revoked-api", now)  # before the simulator starts: its CRL has it
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    context = server_context(
        pki.cert_path("simulator"), pki.key_path("simulator"), pki.ca_cert_path, pki.crl_path
    )
    config = uvicorn.Config(
        simulator_app(SimulatorEngine(base_url=url)),
        ssl_context_factory=lambda _c, _d: context,
        lifespan="off",
        log_config=None,
    )
    server = InternalServer(config, [sock])
    server.start()
    try:
        wait_until(lambda: server.started, "the simulator to start")
        yield Simulator(url, pki)
    finally:
        server.stop()
        sock.close()


def _get(sim: Simulator, name: str | None, *, pki: Pki | None = None) -> httpx.Response:
    issuer = pki or sim.pki
    if name is None:
        import ssl

        verify = ssl.create_default_context(cafile=str(sim.pki.ca_cert_path))
    else:
        verify = client_context(sim.pki.ca_cert_path, issuer.cert_path(name), issuer.key_path(name))
    return httpx.get(f"{sim.url}/_control/faults", verify=verify, timeout=30)


def test_the_api_pays_through_the_simulator_over_mutual_tls(
    simulator: Simulator, settings: Settings
) -> None:
    pki = simulator.pki
    over_mtls = settings.model_copy(
        update={
            "simulator_url": simulator.url,
            "simulator_ca": pki.ca_cert_path,
            "simulator_client_cert": pki.cert_path("api"),
            "simulator_client_key": pki.key_path("api"),
        }
    )
    rt = build_runtime(over_mtls)
    try:
        merchant = make_merchant(rt)
        with TestClient(create_app(rt, run_workers=False)) as api:
            r = api.post(
                "/v1/payment_intents",
                data={"amount": "1500", "currency": "usd", "payment_method": "pm_card_visa",
                      "confirm": "true"},
                headers=merchant.headers,
            )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "succeeded"
    finally:
        rt.close()
    assert _get(simulator, "api").status_code == 200


def test_missing_foreign_expired_and_revoked_certificates_are_refused(
    simulator: Simulator, runtime: Runtime, tmp_path: Path
) -> None:
    foreign = Pki(tmp_path / "foreign", runtime.sealer)
    now = datetime.now(UTC)
    foreign.init(now, hosts=["127.0.0.1"])
    foreign.issue("api", [], now)
    for name, pki in ((None, None), ("api", foreign), ("old-api", None), ("revoked-api", None)):
        with pytest.raises(httpx.TransportError):
            _get(simulator, name, pki=pki)


def test_the_three_settings_go_together(settings: Settings, tmp_path: Path) -> None:
    half = settings.model_copy(
        update={"simulator_url": "https://127.0.0.1:1", "simulator_ca": tmp_path / "ca.pem"}
    )
    with pytest.raises(ValueError, match="go together"):
        build_runtime(half)
