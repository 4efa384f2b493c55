"""Settings from the environment (``STRONGBOX_*``), read once at the edge and passed inward."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
    recovery_after_seconds: int = Field(default=30, ge=1)
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
    # -- connectors, routing, resilience (issue 6)
    master_key: str | None = Field(
        default=None,
        description="32-byte key (hex/base64) sealing connector credentials; "
        "default: a 0600 sealing.key file in data_dir.",
    )
    gateway_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    stripe_api_base: str = Field(default="https://api.stripe.com")
    braintree_environment: str = Field(
        default="sandbox", description="Braintree environment: sandbox, production, or a URL."
    )
    circuit_fail_max: int = Field(default=5, ge=1, le=1000)
    circuit_reset_seconds: float = Field(default=30.0, gt=0, le=3600)
    circuit_error_rate: float = Field(default=0.5, gt=0, le=1)
    circuit_min_calls: int = Field(default=10, ge=1, le=10_000)
    circuit_window: int = Field(default=50, ge=1, le=10_000)

    @property
    def pool_size(self) -> int:
        # Every request thread and background loop can hold one connection: no overflow churn.
        return self.db_pool_size or self.threads + 8

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'strongbox.db').resolve()}"


def normalize_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
