"""The composition root: builds one Strongbox instance from settings.

The API, CLI and workers are edges that receive a ``Runtime``; nothing in the domains
imports this module. Later capabilities (ledger, audit, webhooks) register their
in-transaction subscribers on ``runtime.dispatcher`` here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from strongbox.audit import service as audit_service
from strongbox.audit.tasks import AuditLog, build_audit_log
from strongbox.auth import repository as auth_repository
from strongbox.auth.oauth.keys import SigningKeys
from strongbox.auth.oauth.tokens import Issuer
from strongbox.auth.ratelimit import RateLimiter
from strongbox.auth.ratelimit import address_limiter as make_address_limiter
from strongbox.auth.service import KeyCache
from strongbox.banking.debits import BankDebitSource
from strongbox.banking.providers.registry import Banking
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.connectors.simulator.connector import SimulatorConnector
from strongbox.connectors.simulator.engine import SimulatorEngine
from strongbox.core.clock import Clock, SystemClock
from strongbox.core.errors import InvalidRequestError
from strongbox.core.sealing import Sealer
from strongbox.core.settings import Settings
from strongbox.db.engine import make_engine
from strongbox.db.migrate import upgrade
from strongbox.db.uow import Database, UnitOfWork
from strongbox.events.bus import BusBackend, InMemoryBus, make_bus
from strongbox.events.consumer import attach_in_process
from strongbox.events.dispatcher import EventDispatcher
from strongbox.fx import service as fx_service
from strongbox.fx.cache import RateCache
from strongbox.ledger.adjustments import AdjustmentRules
from strongbox.ledger.conversion import Converted, Converter
from strongbox.ledger.fees import FeeDefault, Fees, parse_fixed
from strongbox.ledger.handlers import PostingRules
from strongbox.ledger.service import LedgerService
from strongbox.payments.cards import TestCardSource, VaultCardSource
from strongbox.payments.deps import Payments, PaymentsConfig
from strongbox.payments.lease import LeaseKeeper
from strongbox.payments.models import PII_OPENER
from strongbox.privacy import service as privacy_service
from strongbox.privacy.journal import ErasureJournal
from strongbox.routing.health import BreakerSettings, ConnectorHealth
from strongbox.routing.service import RoutingService
from strongbox.settlement.windows import Settlement
from strongbox.vault.setup import Vault, build_vault

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    dispatcher: EventDispatcher
    connectors: ConnectorRegistry
    payments: Payments
    bus: InMemoryBus | BusBackend
    key_cache: KeyCache
    rate_limiter: RateLimiter
    simulator: SimulatorEngine | None
    audit: AuditLog
    # The card vault (keys, tokenization, PII) and the Sealer other domains store secrets with.
    vault: Vault
    sealer: Sealer
    # Connector accounts, routing and circuit breakers (issue 6).
    routing: RoutingService
    health: ConnectorHealth
    # Leases of the gateway calls this process has in flight (payments/lease.py).
    leases: LeaseKeeper
    ledger: LedgerService = field(default_factory=LedgerService)
    fees: Fees = field(default_factory=Fees)
    address_limiter: RateLimiter = field(default_factory=lambda: make_address_limiter(0))
    # Exchange rates (issue 25): Redis when configured, in process otherwise.
    fx: RateCache = field(default_factory=RateCache)
    # Bank data (issue 20): Financial Connections' providers; None when none is configured.
    banking: Banking | None = None
    # OAuth2 access tokens (issue 17): their issuer, audience and signing keys.
    oauth: Issuer | None = None
    # Settlement (issue 19): the consumer that puts money events into windows.
    settlement: Settlement | None = None
    # Data subject requests (issue 18): the journal of erasures, kept off the database.
    privacy_journal: ErasureJournal | None = None

    def close(self) -> None:
        self.fx.close()
        if self.banking is not None:
            self.banking.close()
        self.leases.close()
        self.vault.close()
        self.connectors.close()
        self.bus.close()
        self.db.engine.dispose()


def merchant_region(session: Session, merchant_id: str) -> str | None:
    merchant = auth_repository.get_merchant(session, merchant_id)
    return merchant.region if merchant is not None else None


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
    audit: bool = True,
) -> Runtime:
    """``audit=False`` leaves out the audit subscriber (benchmarks measure its cost)."""
    clock = clock or SystemClock()
    mtls = simulator_mtls(settings) if settings.simulator_url else None  # before any resource
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        prepare_data_dir(settings.data_dir)
    engine = make_engine(url, pool_size=settings.pool_size)
    if migrate:
        upgrade(engine)
    dispatcher = EventDispatcher()
    # Audit log: one entry per domain event, in the event's transaction.
    audit_log = build_audit_log(
        settings.data_dir,
        signing_key=(
            settings.audit_signing_key.get_secret_value() if settings.audit_signing_key else None
        ),
        signing_key_file=settings.audit_signing_key_file,
        heads_file=settings.audit_heads_file,
        archive_dir=settings.audit_archive_dir,
        retention_days=settings.audit_retention_days,
    )
    if audit:
        dispatcher.subscribe("*", audit_service.record_event, name="audit", reads_db=False)
    db = Database(engine, clock, dispatcher)
    connectors = ConnectorRegistry()
    engine_sim: SimulatorEngine | None = None
    if settings.simulator_url:
        from strongbox.connectors.simulator.http import HttpSimulatorConnector

        sim_url = settings.simulator_url
        timeout = settings.gateway_timeout_seconds
        connectors.register(
            "simulator",
            lambda: HttpSimulatorConnector(
                sim_url, read_timeout=timeout, transport=mtls() if mtls else None
            ),
        )
    else:
        engine_sim = simulator or SimulatorEngine(
            base_url=settings.public_url.rstrip("/") + "/simulator",
            latency_ms=settings.simulator_latency_ms,
        )
        sim = engine_sim
        connectors.register("simulator", lambda: SimulatorConnector(sim))
    vault = build_vault(settings, db)
    # First start: KEK 1 and the first data keys (audited); later starts check the KEK is
    # there. The composition root owns this unit of work (the vault never commits).
    with db.unit_of_work() as uow:
        vault.keys.initialize(uow)
        uow.commit()
    for maker in (db.sessionmaker, db.read_sessionmaker):
        maker.configure(info={PII_OPENER: vault.service.open_pii})
    if vault.service.regions is not None:
        # Data residency: the vault asks for the merchant's region (one indexed read).
        vault.service.region_of = merchant_region
    # Erasures a restored database does not know are applied again (privacy/journal.py).
    journal = ErasureJournal(
        settings.privacy_erasure_journal or settings.data_dir / "privacy-erasures.jsonl"
    )
    if journal.path.exists():
        with db.unit_of_work() as uow:
            reapplied = privacy_service.reapply(uow, vault.service, audit_log.signer, journal)
            uow.commit()
        if reapplied:
            log.warning("re-applied %d journalled erasures to this database", len(reapplied))
    register_gateway_connectors(connectors, settings)
    sealer = vault.sealer
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
    payments = Payments(
        connectors,
        VaultCardSource(vault.service, TestCardSource()),
        PaymentsConfig(
            default_connector="simulator",
            gateway_retries=settings.gateway_retries,
            attempt_lease_seconds=settings.attempt_lease_seconds,
        ),
        vault=vault.service,
        routing=routing,
        health=health,
    )
    bus = make_bus(
        settings.bus_url,
        stream=settings.bus_stream,
        duplicate_window=settings.bus_duplicate_window_seconds,
    )
    # Ledger: posting rules subscribe to payment events (payments never imports the ledger).
    ledger = LedgerService()
    # Settlement: a bus consumer (docs/settlement.md). On the in-process bus the relay calls
    # it; on JetStream or Kafka the workers pull its consumer group (workers/settlement.py).
    settlement = Settlement(ledger, settings.settlement_window_seconds)
    if isinstance(bus, InMemoryBus):
        attach_in_process(bus, db, settlement.consumer())
    fees = Fees(FeeDefault(settings.ledger_fee_bps, parse_fixed(settings.ledger_fee_fixed)))
    rates = RateCache(settings.redis_url)
    PostingRules(ledger, fees, fx_converter(rates, settings.fx_markup_bps)).register(dispatcher)
    # Reconciliation resolutions post their adjustments through the ledger's rules too.
    AdjustmentRules(ledger).register(dispatcher)
    rt = Runtime(
        settings=settings,
        db=db,
        dispatcher=dispatcher,
        connectors=connectors,
        payments=payments,
        bus=bus,
        key_cache=KeyCache(),
        rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.redis_url),
        simulator=engine_sim,
        audit=audit_log,
        ledger=ledger,
        fees=fees,
        vault=vault,
        sealer=sealer,
        address_limiter=make_address_limiter(
            settings.rate_limit_per_address_per_second, settings.redis_url
        ),
        routing=routing,
        health=health,
        leases=LeaseKeeper(db, settings.attempt_lease_seconds),
        fx=rates,
        banking=build_banking(settings, sealer, clock),
        oauth=build_oauth(settings, sealer, clock),
        settlement=settlement,
        privacy_journal=journal,
    )
    # us_bank_account debits (issue 20) read bank data through the runtime's banking, which
    # may be set later (tests do): looked up per debit.
    payments.bank = BankDebitSource(db, lambda: rt.banking)
    return rt


def simulator_mtls(settings: Settings) -> Callable[[], httpx.HTTPTransport] | None:
    """Transports that present our client certificate to a split simulator (mutual TLS), when
    STRONGBOX_SIMULATOR_CLIENT_CERT / _KEY / _CA are set (all three, or none)."""
    paths = (settings.simulator_ca, settings.simulator_client_cert, settings.simulator_client_key)
    if not any(paths):
        return None
    ca, cert, key = paths
    if ca is None or cert is None or key is None:
        raise ValueError(
            "STRONGBOX_SIMULATOR_CA, STRONGBOX_SIMULATOR_CLIENT_CERT and "
            "STRONGBOX_SIMULATOR_CLIENT_KEY go together"
        )
    from strongbox.auth.pki.tls import client_context

    context = client_context(ca, cert, key)
    return lambda: httpx.HTTPTransport(verify=context)


def build_oauth(settings: Settings, sealer: Sealer, clock: Clock) -> Issuer:
    keys = SigningKeys(sealer, clock, timedelta(days=settings.oauth_key_rotation_days))
    return Issuer(
        keys=keys,
        issuer=settings.resolved_oauth_issuer,
        audience=settings.resolved_oauth_audience,
        clock=clock,
        access_token_seconds=settings.oauth_access_token_seconds,
    )


def fx_converter(cache: RateCache, markup_bps: int) -> Converter:
    """The posting rules' conversion into a settlement currency: the latest rates from the
    cache (or the database, never the source), converted as ``fx.service.convert`` does."""

    def convert(uow: UnitOfWork, amount: int, from_cur: str, to_cur: str) -> Converted | None:
        rs = fx_service.latest(uow.session, cache)
        if rs is None:
            return None
        try:
            c = fx_service.convert(amount, from_cur, to_cur, rs, markup_bps=markup_bps)
        except InvalidRequestError:  # a currency the source does not publish
            return None
        return Converted(c.amount, str(c.rate), c.rate_date.isoformat(), rs.source, markup_bps)

    return convert


def build_banking(settings: Settings, sealer: Sealer, clock: Clock) -> Banking | None:
    """The bank-data providers whose credentials are set (``STRONGBOX_PLAID_*``,
    ``STRONGBOX_YODLEE_*``); None, and Financial Connections answers that it is off."""
    from strongbox.banking.providers.base import BankProvider
    from strongbox.core.secret import Secret

    connect = settings.gateway_connect_timeout_seconds
    read = settings.gateway_timeout_seconds
    providers: dict[str, BankProvider] = {}
    extra: dict[str, object] = {}
    if settings.plaid_client_id and settings.plaid_secret:
        from strongbox.banking.providers.plaid import PlaidProvider
        from strongbox.banking.providers.plaid_webhooks import PlaidWebhookVerifier

        plaid = PlaidProvider(
            settings.plaid_api_base,
            settings.plaid_client_id,
            Secret(settings.plaid_secret.get_secret_value()),
            connect_timeout=connect,
            read_timeout=read,
            clock=clock,
        )
        providers["plaid"] = plaid
        extra["plaid_verifier"] = PlaidWebhookVerifier(plaid.webhook_verification_key, clock)
    if settings.yodlee_client_id and settings.yodlee_secret and settings.yodlee_admin_login:
        from strongbox.banking.providers.yodlee import YodleeProvider

        providers["yodlee"] = YodleeProvider(
            settings.yodlee_api_base,
            settings.yodlee_client_id,
            Secret(settings.yodlee_secret.get_secret_value()),
            settings.yodlee_admin_login,
            connect_timeout=connect,
            read_timeout=read,
            clock=clock,
        )
        if settings.yodlee_webhook_token:
            extra["yodlee_webhook_token"] = Secret(settings.yodlee_webhook_token.get_secret_value())
    if not providers:
        return None
    return Banking(providers, sealer, settings.public_url, extra=dict(extra))


def register_gateway_connectors(connectors: ConnectorRegistry, settings: Settings) -> None:
    """The real gateways. Stateless: one instance each, credentials come per request."""
    from strongbox.connectors.adyen import AdyenConnector
    from strongbox.connectors.braintree import BraintreeConnector, parse_environment
    from strongbox.connectors.stripe import StripeConnector

    connect = settings.gateway_connect_timeout_seconds
    read = settings.gateway_timeout_seconds
    stripe_base = settings.stripe_api_base
    connectors.register(
        "stripe",
        lambda: StripeConnector(stripe_base, connect_timeout=connect, read_timeout=read),
    )
    adyen_base = settings.adyen_api_base
    connectors.register(
        "adyen",
        lambda: AdyenConnector(adyen_base, connect_timeout=connect, read_timeout=read),
    )
    bt_environment = settings.braintree_environment
    parse_environment(bt_environment)  # a bad setting fails at start, not at the first payment
    connectors.register(
        "braintree",
        lambda: BraintreeConnector(bt_environment, connect_timeout=connect, read_timeout=read),
    )
