"""Settings from the environment (``STRONGBOX_*``), read once at the edge and passed inward."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRONGBOX_", extra="ignore")

    data_dir: Path = Field(default=Path(".strongbox"), description="Embedded data directory.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; postgresql://… for PostgreSQL. Default: SQLite in data_dir.",
    )
    threads: int = Field(
        default=16, ge=1, le=256, description="Threads serving requests in each process."
    )
    db_pool_size: int | None = Field(
        default=None, ge=1, le=500, description="Connections per process; default threads + 8."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base URL clients use to reach the API."
    )
    simulator_url: str | None = Field(
        default=None, description="Use a simulator running as its own HTTP service at this URL."
    )
    simulator_latency_ms: int = Field(default=0, ge=0, le=60_000)
    gateway_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    gateway_retries: int = Field(default=2, ge=0, le=10)
    idempotency_ttl_hours: int = Field(default=24, ge=24, le=24 * 30)
    idempotency_lock_timeout_seconds: int = Field(default=90, ge=1)
    recovery_after_seconds: int = Field(
        default=60,
        ge=1,
        description="Unfinished attempts older than this are resolved by the recovery worker; "
        "must exceed the longest gateway call (tries x (connect + read timeout) + back-off).",
    )
    attempt_lease_seconds: float = Field(
        default=15.0,
        gt=0,
        le=600,
        description="A gateway call in flight holds its attempt this long, renewed every third "
        "of it until the call ends; recovery never touches a held attempt.",
    )
    action_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often open 3DS challenges are looked up."
    )
    worker_interval_seconds: float = Field(default=1.0, gt=0)
    run_workers: bool = Field(default=True, description="Run background workers in-process.")
    rate_limit_per_second: int = Field(
        default=1000,
        ge=0,
        description="Requests per second per API key (moving window); 0 disables the limit.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for shared state (rate limits) across processes."
    )
    log_level: str = Field(default="INFO")
    # --- audit log (issue 5) ---
    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 key for tree heads: PEM (PKCS#8) or base64 of a 32-byte seed.",
    )
    audit_signing_key_file: Path | None = Field(
        default=None, description="Key file used (created 0600 on first start) when no key is set."
    )
    audit_heads_file: Path | None = Field(
        default=None, description="External append-only JSONL of signed tree heads."
    )
    audit_head_interval_seconds: float = Field(default=60.0, gt=0)
    audit_retention_days: int = Field(default=400, ge=365)
    audit_archive_dir: Path | None = Field(default=None)
    ledger_fee_bps: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Default processing fee, in basis points of each capture (ledger).",
    )
    ledger_fee_fixed: str = Field(
        default="",
        pattern=r"^([A-Za-z]{3}=[0-9]{1,9})?(,[A-Za-z]{3}=[0-9]{1,9})*$",
        description="Default fixed fee per capture, per currency: 'usd=30,eur=25'.",
    )
    ledger_expiry_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often expired pending ledger transfers are voided."
    )
    # -- reconciliation (docs/reconciliation.md)
    recon_nightly_fetch: bool = Field(
        default=False,
        description="Fetch yesterday's settlement data from gateways with an API (Stripe), "
        "import it and reconcile the day, in the background workers.",
    )
    recon_fetch_after_hour: int = Field(
        default=3, ge=0, le=23, description="UTC hour after which yesterday is fetched."
    )
    recon_fetch_attempts: int = Field(
        default=6, ge=1, le=20, description="Tries per fetch (exponential backoff, jitter)."
    )
    recon_fetch_backoff_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="First back-off of a failed fetch."
    )
    integrity_seals_file: Path | None = Field(
        default=None,
        description="External append-only JSONL of table seals (default: under the data dir).",
    )
    integrity_seal_hours: float = Field(
        default=24.0, gt=0, description="The workers seal the critical tables this often."
    )
    # -- foreign exchange (docs/fx.md)
    fx_ecb_url: str | None = Field(
        default=None,
        description="Load the ECB's reference rates from this URL on a schedule "
        "(https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml).",
    )
    fx_ecb_file: Path | None = Field(
        default=None, description="Load the ECB's reference rates from this file on a schedule."
    )
    fx_refresh_minutes: float = Field(
        default=60.0, gt=0, le=1440, description="How often the workers load the rates."
    )
    fx_markup_bps: int = Field(
        default=0, ge=0, le=2000, description="Markup on converted amounts, basis points."
    )
    # -- vault (docs/vault.md)
    key_provider: Literal["local", "pkcs11"] = Field(
        default="local", description="Where key-encryption keys live: local keyring or PKCS#11."
    )
    master_key: SecretStr | None = Field(
        default=None, description="Local KEK (32 bytes, base64 or hex) instead of a keyring file."
    )
    keyring_file: Path | None = Field(
        default=None, description="Local keyring file; default <data_dir>/vault-keyring.json."
    )
    vault_regions: str = Field(
        default="",
        description="Data residency: comma-separated regions (eu,us); each has its own key "
        "provider (<keyring dir>/vault-keyring-<region>.json) for the personal-data keys of "
        "merchants in that region.",
    )
    privacy_erasure_journal: Path | None = Field(
        default=None,
        description="Append-only JSONL of erasures (ids only), re-applied to a restored "
        "database on start; default <data_dir>/privacy-erasures.jsonl. Keep it off the "
        "database's backups.",
    )
    pkcs11_module: str = Field(default="/usr/lib/softhsm/libsofthsm2.so")
    pkcs11_token_label: str = Field(default="strongbox")
    pkcs11_pin: SecretStr | None = Field(default=None, description="User PIN of the token.")
    pkcs11_key_label_prefix: str = Field(
        default="strongbox-kek-", description="Label prefix of the KEKs in the token."
    )
    key_cryptoperiod_days: int = Field(
        default=90, ge=1, le=3650, description="Keys older than this are reported overdue."
    )
    key_cache_seconds: float = Field(
        default=300.0, ge=0, le=86_400, description="How long unwrapped data keys stay cached."
    )
    cvc_ttl_seconds: int = Field(
        default=3600, ge=60, le=86_400, description="CVCs unused for this long are destroyed."
    )
    # operators and access (issue 17)
    access_grant_max_minutes: int = Field(
        default=480, ge=5, le=7 * 24 * 60, description="Longest just-in-time grant (minutes)."
    )
    operator_session_idle_minutes: int = Field(
        default=15, ge=1, le=15, description="Operator sessions end after this long idle."
    )
    operator_invitation_hours: int = Field(
        default=72, ge=1, le=24 * 14, description="How long an invitation can be accepted."
    )
    webauthn_rp_id: str | None = Field(
        default=None, description="WebAuthn relying party id [default: the public URL's host]."
    )
    # webhooks (issue 7)
    webhooks_allow_private: bool = Field(
        default=False, description="Allow webhook deliveries to private/loopback addresses."
    )
    webhooks_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    webhooks_concurrency: int = Field(default=64, ge=1, le=1024)
    # metrics (issue 23): their own listener, loopback unless configured; see api/metrics.py
    metrics_host: str = Field(
        default="127.0.0.1", description="Interface of the metrics listener (strongbox serve)."
    )
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Port of the metrics listener; 0: none."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="If set, the public API port also serves /metrics to this bearer token.",
    )
    # --- security (issue 8) ---
    rate_limit_per_address_per_second: int = Field(
        default=2000,
        ge=0,
        description="Requests per second per client address (moving window); 0 disables.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest request body."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated proxy addresses/networks whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (client address, HSTS). Empty: trust none.",
    )
    # -- OAuth2 and JWT access tokens (issue 17, part B; docs/oauth.md)
    oauth_issuer: str | None = Field(
        default=None, description="The tokens' iss and the metadata's issuer; default public_url."
    )
    oauth_audience: str | None = Field(
        default=None, description="The access tokens' aud; default <issuer>/v1 (this API)."
    )
    oauth_access_token_seconds: int = Field(
        default=600, ge=60, le=900, description="Access-token lifetime (at most 15 minutes)."
    )
    oauth_refresh_token_days: int = Field(
        default=30, ge=1, le=365, description="Refresh-token lifetime (each use rotates it)."
    )
    oauth_key_rotation_days: int = Field(
        default=30, ge=1, le=365, description="The signing key rotates when it is this old."
    )
    # -- mutual TLS (issue 17, part B): the private CA and the internal listener
    pki_dir: Path | None = Field(
        default=None, description="The private CA's directory; default <data_dir>/pki."
    )
    simulator_ca: Path | None = Field(
        default=None, description="CA that certifies an https simulator_url (mutual TLS)."
    )
    simulator_client_cert: Path | None = Field(
        default=None, description="Client certificate presented to the simulator (mutual TLS)."
    )
    simulator_client_key: Path | None = Field(
        default=None, description="Private key of simulator_client_cert."
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one redacted JSON object per line; text: plain."
    )
    # -- connectors, routing, resilience (issue 6)
    gateway_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    stripe_api_base: str = Field(default="https://api.stripe.com")
    adyen_api_base: str = Field(
        default="https://checkout-test.adyen.com/v71",
        description="Adyen Checkout base URL (test); an account's live_url_prefix selects live.",
    )
    braintree_environment: str = Field(
        default="sandbox", description="Braintree environment: sandbox, production, or a URL."
    )
    # -- bank data (issue 20): Plaid's platform credentials; unset, Financial Connections is off
    plaid_api_base: str = Field(default="https://sandbox.plaid.com")
    plaid_client_id: str | None = Field(default=None)
    plaid_secret: SecretStr | None = Field(default=None)
    yodlee_api_base: str = Field(default="https://sandbox.api.yodlee.com/ysl")
    yodlee_client_id: str | None = Field(default=None)
    yodlee_secret: SecretStr | None = Field(default=None)
    yodlee_admin_login: str | None = Field(
        default=None, description="Yodlee's admin loginName, for registering end users."
    )
    yodlee_webhook_token: SecretStr | None = Field(
        default=None,
        description="Secret in the callback URL registered with Yodlee "
        "(/v1/financial_connections/webhooks/yodlee?token=...); unset, Yodlee webhooks are off.",
    )
    bank_poll_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often the bank-data worker looks for due polls."
    )
    # -- event bus and settlement (issue 19): docs/events.md, docs/settlement.md
    bus_url: str | None = Field(
        default=None,
        description="Event bus: unset or memory:// (in-process), nats://host:4222 (JetStream), "
        "kafka://host:9092 (Kafka).",
    )
    bus_stream: str = Field(
        default="STRONGBOX",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="JetStream stream (and Kafka topic) the relay publishes to.",
    )
    bus_duplicate_window_seconds: int = Field(
        default=600, ge=10, le=86_400, description="JetStream's Nats-Msg-Id dedupe window."
    )
    settlement_window_seconds: int = Field(
        default=300, ge=1, le=86_400, description="Length of a settlement window (tumbling)."
    )
    settlement_dir: Path | None = Field(
        default=None, description="Where settlement files go; default <data_dir>/settlement."
    )
    # -- compliance (issue 18, docs/compliance.md)
    incident_contact: str | None = Field(
        default=None,
        max_length=500,
        description="Who is told of a security incident (PCI DSS 12.10.1): an address, a "
        "phone number or a rota; shown in every compliance report.",
    )
    api_key_max_age_days: int = Field(
        default=365, ge=1, le=3650, description="Secret keys older than this fail PCI DSS 8.6.3."
    )
    compliance_check_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="The workers run the compliance checks this often.",
    )
    compliance_lock_file: Path | None = Field(
        default=None,
        description="Hashed requirements file that 'strongbox compliance check --scan' audits "
        "with pip-audit (default: requirements/lock.txt in the working directory).",
    )
    circuit_fail_max: int = Field(default=5, ge=1, le=1000)
    circuit_reset_seconds: float = Field(default=30.0, gt=0, le=3600)
    circuit_error_rate: float = Field(default=0.5, gt=0, le=1)
    circuit_min_calls: int = Field(default=10, ge=1, le=10_000)
    circuit_window: int = Field(default=50, ge=1, le=10_000)

    @model_validator(mode="after")
    def _recovery_after_the_longest_call(self) -> Settings:
        longest = longest_gateway_call_seconds(self)
        if self.recovery_after_seconds <= longest:
            raise ValueError(
                f"STRONGBOX_RECOVERY_AFTER_SECONDS={self.recovery_after_seconds} is not longer "
                f"than the longest gateway call ({self.gateway_retries + 1} tries x "
                f"({self.gateway_connect_timeout_seconds:g} s connect + "
                f"{self.gateway_timeout_seconds:g} s read) + back-off = {longest:g} s): recovery "
                "could resolve a payment whose request is still waiting for the gateway. Set it "
                f"to at least {int(longest) + 1}, or lower STRONGBOX_GATEWAY_TIMEOUT_SECONDS, "
                "STRONGBOX_GATEWAY_CONNECT_TIMEOUT_SECONDS or STRONGBOX_GATEWAY_RETRIES."
            )
        return self

    @property
    def resolved_pki_dir(self) -> Path:
        return self.pki_dir or self.data_dir / "pki"

    @property
    def resolved_oauth_issuer(self) -> str:
        return (self.oauth_issuer or self.public_url).rstrip("/")

    @property
    def resolved_oauth_audience(self) -> str:
        return self.oauth_audience or self.resolved_oauth_issuer + "/v1"

    @property
    def pool_size(self) -> int:
        # Every request thread and background loop can hold one connection: no overflow churn.
        return self.db_pool_size or self.threads + 8

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'strongbox.db').resolve()}"


#: The longest wait between two tries of one gateway call (``PaymentsConfig.retry_max_seconds``).
RETRY_BACKOFF_MAX_SECONDS = 1.0


def longest_gateway_call_seconds(settings: Settings) -> float:
    """How long one gateway call can take with every retry: each try bounded by the connect
    and read timeouts, each wait between tries by the back-off's maximum."""
    tries = settings.gateway_retries + 1
    per_try = settings.gateway_connect_timeout_seconds + settings.gateway_timeout_seconds
    return tries * per_try + settings.gateway_retries * RETRY_BACKOFF_MAX_SECONDS


def normalize_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
