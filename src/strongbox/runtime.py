"""The composition root: builds one Strongbox instance from settings.

The API, CLI and workers are edges that receive a ``Runtime``; nothing in the domains
imports this module. Later capabilities (ledger, audit, webhooks) register their
in-transaction subscribers on ``runtime.dispatcher`` here.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from strongbox.auth.ratelimit import RateLimiter
from strongbox.auth.service import KeyCache
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.connectors.simulator.connector import SimulatorConnector
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.core.clock import Clock, SystemClock
from strongbox.core.sealing import Sealer
from strongbox.core.settings import Settings
from strongbox.db.engine import make_engine
from strongbox.db.migrate import upgrade
from strongbox.db.uow import Database
from strongbox.events.bus import InMemoryBus, make_bus
from strongbox.events.dispatcher import EventDispatcher
from strongbox.payments.cards import TestCardSource
from strongbox.payments.service import PaymentsConfig, PaymentsService
from strongbox.routing.health import BreakerSettings, ConnectorHealth
from strongbox.routing.service import RoutingService

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    dispatcher: EventDispatcher
    connectors: ConnectorRegistry
    payments: PaymentsService
    bus: InMemoryBus
    key_cache: KeyCache
    rate_limiter: RateLimiter
    simulator: SimulatorEngine | None
    sealer: Sealer
    routing: RoutingService
    health: ConnectorHealth

    def close(self) -> None:
        self.connectors.close()
        self.bus.close()
        self.db.engine.dispose()


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data directory (0700) and the SQLite file (0600) before SQLite does.

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    db_file = data_dir / "strongbox.db"
    if not db_file.exists():
        fd = os.open(db_file, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    simulator: SimulatorEngine | None = None,
) -> Runtime:
    clock = clock or SystemClock()
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        prepare_data_dir(settings.data_dir)
    engine = make_engine(url, pool_size=settings.pool_size)
    if migrate:
        upgrade(engine)
    dispatcher = EventDispatcher()
    db = Database(engine, clock, dispatcher)
    connectors = ConnectorRegistry()
    engine_sim: SimulatorEngine | None = None
    if settings.simulator_url:
        from strongbox.connectors.simulator.http import HttpSimulatorConnector

        sim_url = settings.simulator_url
        timeout = settings.gateway_timeout_seconds
        connectors.register(
            "simulator", lambda: HttpSimulatorConnector(sim_url, read_timeout=timeout)
        )
    else:
        engine_sim = simulator or SimulatorEngine(
            base_url=settings.public_url.rstrip("/") + "/simulator",
            latency_ms=settings.simulator_latency_ms,
        )
        sim = engine_sim
        connectors.register("simulator", lambda: SimulatorConnector(sim))
    register_gateway_connectors(connectors, settings)
    sealer = make_interim_sealer(settings)
    health = ConnectorHealth(
        BreakerSettings(
            fail_max=settings.circuit_fail_max,
            reset_seconds=settings.circuit_reset_seconds,
            window=settings.circuit_window,
            error_rate=settings.circuit_error_rate,
            min_calls=settings.circuit_min_calls,
        ),
        settings.redis_url,
    )
    routing = RoutingService(connectors, sealer, health, default_connector="simulator")
    payments = PaymentsService(
        connectors,
        TestCardSource(),
        PaymentsConfig(
            default_connector="simulator",
            gateway_retries=settings.gateway_retries,
        ),
        routing=routing,
        health=health,
    )
    bus = make_bus(None)
    return Runtime(
        settings=settings,
        db=db,
        dispatcher=dispatcher,
        connectors=connectors,
        payments=payments,
        bus=bus,
        key_cache=KeyCache(),
        rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.redis_url),
        simulator=engine_sim,
        sealer=sealer,
        routing=routing,
        health=health,
    )


def make_interim_sealer(settings: Settings) -> Sealer:
    """The interim AES-GCM sealer; the vault's sealer replaces it when the vault lands."""
    from strongbox.connectors.interim_sealer import InterimSealer

    return InterimSealer.from_environment(settings.data_dir, settings.master_key)


def register_gateway_connectors(connectors: ConnectorRegistry, settings: Settings) -> None:
    """The real gateways. Stateless: one instance each, credentials come per request."""
    from strongbox.connectors.braintree import BraintreeConnector, parse_environment
    from strongbox.connectors.stripe import StripeConnector

    connect = settings.gateway_connect_timeout_seconds
    read = settings.gateway_timeout_seconds
    stripe_base = settings.stripe_api_base
    connectors.register(
        "stripe",
        lambda: StripeConnector(stripe_base, connect_timeout=connect, read_timeout=read),
    )
    bt_environment = settings.braintree_environment
    parse_environment(bt_environment)  # a bad setting fails at start, not at the first payment
    connectors.register(
        "braintree",
        lambda: BraintreeConnector(bt_environment, connect_timeout=connect, read_timeout=read),
    )
