"""``strongbox`` command line: serve, db upgrade, merchants create, demo, simulator serve."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from strongbox.cli.common import load_settings
from strongbox.cli.keys import keys_app
from strongbox.cli.origins import origins_app
from strongbox.cli.permissions import CheckedGroup

if TYPE_CHECKING:
    from strongbox.core.settings import Settings
    from strongbox.runtime import Runtime

app = typer.Typer(
    cls=CheckedGroup,  # every command passes cli/permissions.py's check
    help="Strongbox: a self-hosted, Stripe-compatible payments platform.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
merchants_app = typer.Typer(help="Merchant commands.", no_args_is_help=True)
simulator_app = typer.Typer(help="The built-in gateway simulator.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(merchants_app, name="merchants")
app.add_typer(simulator_app, name="simulator")
from strongbox.cli.audit import audit_app  # noqa: E402

app.add_typer(audit_app, name="audit")

from strongbox.cli.ledger import ledger_app  # noqa: E402

app.add_typer(ledger_app, name="ledger")
from strongbox.cli.recon import recon_app  # noqa: E402 - issue 25

app.add_typer(recon_app, name="recon")
from strongbox.cli.integrity import integrity_app  # noqa: E402 - issue 25

app.add_typer(integrity_app, name="integrity")
from strongbox.cli.fx import fx_app  # noqa: E402 - issue 25

app.add_typer(fx_app, name="fx")
from strongbox.cli.bank import bank_app  # noqa: E402 - issue 20

app.add_typer(bank_app, name="bank")
from strongbox.cli.compliance import compliance_app  # noqa: E402 - issue 18

app.add_typer(compliance_app, name="compliance")
merchants_app.add_typer(origins_app, name="origins")  # hosted card fields
app.add_typer(keys_app, name="keys")  # vault keys
from strongbox.cli.payments import app as payments_app  # noqa: E402
from strongbox.cli.webhooks import app as webhooks_app  # noqa: E402 - issue 7

app.add_typer(webhooks_app, name="webhooks")
from strongbox.cli.oauth import oauth_app  # noqa: E402 - issue 17, part B

app.add_typer(oauth_app, name="oauth")
from strongbox.cli.pki import pki_app  # noqa: E402 - issue 17, part B

app.add_typer(pki_app, name="pki")
from strongbox.cli.privacy import privacy_app  # noqa: E402 - issue 18

app.add_typer(privacy_app, name="privacy")
app.add_typer(payments_app, name="payments")
from strongbox.cli.access import access_app  # noqa: E402 - issue 17
from strongbox.cli.users import users_app  # noqa: E402 - issue 17

app.add_typer(users_app, name="users")
app.add_typer(access_app, name="access")


@app.callback()
def main(
    ctx: typer.Context,
    as_operator: Annotated[
        str | None,
        typer.Option(
            "--as",
            envvar="STRONGBOX_OPERATOR",
            help="Run as this operator (their role and grants); default: the administrator.",
        ),
    ] = None,
) -> None:
    """Every command passes the permission check of cli/permissions.py first."""
    from strongbox.cli.permissions import PATH_KEY, check, resolve
    from strongbox.core.errors import StrongboxError

    if ctx.resilient_parsing:
        return
    try:
        principal = resolve(as_operator)
        check(str(ctx.meta.get(PATH_KEY, "")), principal)
    except StrongboxError as exc:
        typer.echo(f"strongbox: {exc.message}", err=True)
        raise typer.Exit(code=3) from None
    ctx.obj = principal


def _setup_logging(level: str, fmt: Literal["json", "text"] = "json") -> None:
    """JSON lines (or plain text) on stderr, redacted, with the request id (core/logging.py)."""
    from strongbox.core.logging import configure_logging

    configure_logging(level, fmt)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Run background workers in-process.")
    ] = True,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            max=64,
            help="API processes (PostgreSQL only; SQLite allows one writer process).",
        ),
    ] = 1,
    metrics_host: Annotated[
        str | None,
        typer.Option(help="Interface of the metrics listener [default: 127.0.0.1]."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port of the metrics listener; 0: none [default: 9464]."
        ),
    ] = None,
    internal_host: Annotated[
        str, typer.Option(help="Interface of the internal mutual-TLS listener.")
    ] = "127.0.0.1",
    internal_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Also serve the internal API here, client certificates required "
            "(strongbox pki init first; one process only).",
        ),
    ] = None,
) -> None:
    """Run the API with background workers (embedded SQLite unless STRONGBOX_DATABASE_URL).

    Prometheus metrics are served on their own listener (loopback by default), never on the
    API port unless STRONGBOX_METRICS_TOKEN is set (docs/security.md)."""
    import uvicorn

    from strongbox.api.metrics import multiprocess_directory
    from strongbox.auth import service as auth
    from strongbox.runtime import build_runtime

    settings = load_settings()
    _setup_logging(settings.log_level, settings.log_format)
    m_host = settings.metrics_host if metrics_host is None else metrics_host
    m_port = settings.metrics_port if metrics_port is None else metrics_port
    if "STRONGBOX_PUBLIC_URL" not in os.environ:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    rt = build_runtime(settings)
    with rt.db.unit_of_work() as uow:
        first = not auth.has_merchants(uow.session)
        new = auth.create_merchant(uow, "Development") if first else None
        uow.commit()
    where = (
        settings.database_url.split("@")[-1] if settings.database_url else str(settings.data_dir)
    )
    typer.echo(f"Strongbox on http://{host}:{port}  (database: {where})")
    if new is not None:
        sk = new.secret_key.reveal()
        typer.echo("\nA development merchant was created. Its keys are shown only this once:\n")
        typer.echo(f"  merchant         {new.merchant.id}")
        typer.echo(f"  secret key       {sk}")
        typer.echo(f"  publishable key  {new.publishable_key.reveal()}\n")
        typer.echo("Try it:\n")
        typer.echo(
            f"  curl http://{host}:{port}/v1/payment_intents -u {sk}: \\\n"
            "    -d amount=2000 -d currency=usd -d payment_method=pm_card_visa -d confirm=true\n"
        )
    if processes > 1 and internal_port is not None:
        raise typer.BadParameter(
            "the internal listener runs with one API process", param_hint="--internal-port"
        )
    if processes > 1:
        if rt.db.is_sqlite:
            raise typer.BadParameter(
                "several processes need PostgreSQL (STRONGBOX_DATABASE_URL)",
                param_hint="--processes",
            )
        rt.close()
        os.environ["STRONGBOX_PUBLIC_URL"] = settings.public_url
        os.environ["STRONGBOX_RUN_WORKERS"] = "true" if workers else "false"
        # The API processes write their samples to one directory; the listener, here in
        # the supervising process, serves them together (api/metrics.py).
        with multiprocess_directory(), _metrics_listener(m_host, m_port):
            uvicorn.run(
                "strongbox.api.asgi:create",
                factory=True,
                host=host,
                port=port,
                workers=processes,
                log_level=settings.log_level.lower(),
                access_log=False,
                log_config=None,  # keep the redacting JSON handler of _setup_logging
                proxy_headers=False,  # client address / scheme: STRONGBOX_TRUSTED_PROXIES
            )
        return
    with _metrics_listener(m_host, m_port), _internal_listener(rt, internal_host, internal_port):
        _serve_one(rt, host, port, workers, settings)


@contextmanager
def _internal_listener(rt: Runtime, host: str, port: int | None) -> Iterator[None]:
    """The internal API over mutual TLS (api/internal.py), in a thread beside the API."""
    if port is None:
        yield
        return
    from strongbox.api.internal import InternalServer, internal_config

    pki_dir = rt.settings.resolved_pki_dir
    if not (pki_dir / "ca.pem").exists():
        raise typer.BadParameter(
            f"no CA in {pki_dir}: run 'strongbox pki init' first", param_hint="--internal-port"
        )
    server = InternalServer(internal_config(rt, pki_dir, host, port))
    server.start()
    typer.echo(f"Internal API (mutual TLS) on https://{host}:{port}/internal/")
    try:
        yield
    finally:
        server.stop()


@contextmanager
def _metrics_listener(host: str, port: int) -> Iterator[None]:
    from strongbox.api.metrics import start_listener

    if port == 0:
        yield
        return
    try:
        listener = start_listener(host, port)
    except OSError as exc:
        raise typer.BadParameter(
            f"the metrics listener cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another --metrics-port, or 0 for none",
            param_hint="--metrics-port",
        ) from None
    bound_host, bound_port = listener.address
    typer.echo(f"Metrics on http://{bound_host}:{bound_port}/metrics")
    try:
        yield
    finally:
        listener.close()


def _serve_one(rt: Runtime, host: str, port: int, workers: bool, settings: Settings) -> None:
    import uvicorn

    from strongbox.api.app import create_app

    uvicorn.run(
        create_app(rt, run_workers=workers),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # keep the redacting JSON handler of _setup_logging
        proxy_headers=False,  # client address / scheme: STRONGBOX_TRUSTED_PROXIES
    )


@app.command()
def worker(
    only: Annotated[
        str,
        typer.Option(
            help="Comma-separated worker groups to run (relay, settlement, payouts, webhooks, "
            "recovery, ledger, audit, maintenance); default: all."
        ),
    ] = "",
    metrics_host: Annotated[
        str, typer.Option(help="Interface of the metrics listener.")
    ] = "127.0.0.1",
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the metrics listener; 0: none.")
    ] = 0,
) -> None:
    """Run background workers without the API: any number of these processes share the
    work (consumer groups on the bus, FOR UPDATE SKIP LOCKED in the database)."""
    import signal
    import threading

    from strongbox.runtime import build_runtime
    from strongbox.workers.loops import GROUPS, build_workers

    groups = {g.strip() for g in only.split(",") if g.strip()} or None
    unknown = (groups or set()) - set(GROUPS)
    if unknown:
        raise typer.BadParameter(
            f"unknown worker group(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(GROUPS))}",
            param_hint="--only",
        )
    settings = load_settings()
    _setup_logging(settings.log_level, settings.log_format)
    rt = build_runtime(settings)
    workers = build_workers(rt, groups)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with _metrics_listener(metrics_host, metrics_port):
        workers.start()
        names = ", ".join(loop.short_name for loop in workers.loops)
        typer.echo(f"Strongbox workers running: {names}")
        try:
            while not stop.wait(1.0):
                pass
        finally:
            workers.stop()
            rt.close()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply database migrations."""
    from strongbox.db.engine import make_engine
    from strongbox.db.migrate import current_revision, upgrade
    from strongbox.runtime import prepare_data_dir

    settings = load_settings()
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        prepare_data_dir(settings.data_dir)
    engine = make_engine(url, pool_size=2)
    upgrade(engine, revision)
    typer.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()


@merchants_app.command("create")
def merchants_create(
    name: str,
    region: Annotated[
        str | None,
        typer.Option(help="Data residency: one of STRONGBOX_VAULT_REGIONS (fixed for good)."),
    ] = None,
) -> None:
    """Create a merchant and print its id and keys as JSON (keys are shown only once)."""
    from strongbox.auth import service as auth
    from strongbox.runtime import build_runtime
    from strongbox.vault.regions import parse_regions

    settings = load_settings()
    if region is not None and region not in parse_regions(settings.vault_regions):
        raise typer.BadParameter(
            "not a configured region (STRONGBOX_VAULT_REGIONS)", param_hint="--region"
        )
    rt = build_runtime(settings)
    try:
        with rt.db.unit_of_work() as uow:
            try:
                new = auth.create_merchant(uow, name, region)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="NAME") from None
            uow.commit()
    finally:
        rt.close()
    out = {
        "id": new.merchant.id,
        "name": new.merchant.name,
        "secret_key": new.secret_key.reveal(),
        "publishable_key": new.publishable_key.reveal(),
    }
    if new.merchant.region is not None:
        out["region"] = new.merchant.region
    typer.echo(json.dumps(out))


@merchants_app.command("settlement-currency")
def merchants_settlement_currency(
    merchant: Annotated[str, typer.Argument(help="The merchant id (acct_…).")],
    currency: Annotated[
        str, typer.Argument(help="ISO 4217 code, or 'none': each payment settles in its own.")
    ],
) -> None:
    """Set the currency a merchant settles in; payments in another currency convert at
    capture at the latest recorded rate (docs/fx.md). Prints the account as JSON."""
    from strongbox.auth import account
    from strongbox.cli.common import merchant_unit_of_work

    value = None if currency.strip().lower() == "none" else currency
    merchant_unit_of_work(
        merchant,
        lambda _rt, uow, ctx: account.render_account(
            account.set_settlement_currency(uow, ctx, merchant, value)
        ),
        param_hint="MERCHANT",
    )


@app.command()
def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="Use this directory instead of a temporary one.")
    ] = None,
) -> None:
    """A scripted tour against a temporary embedded instance."""
    from strongbox.cli.demo import run_demo

    run_demo(data_dir, typer.echo)


@simulator_app.command("serve")
def simulator_serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 12111,
    latency_ms: Annotated[int, typer.Option(help="Added latency per call.")] = 0,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve https with this certificate (mutual TLS).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's private key.")] = None,
    client_ca: Annotated[
        Path | None, typer.Option(help="Require client certificates from this CA.")
    ] = None,
    crl: Annotated[
        Path | None, typer.Option(help="Refuse client certificates this CRL revokes.")
    ] = None,
) -> None:
    """Run the gateway simulator as its own HTTP service (point STRONGBOX_SIMULATOR_URL at it).

    With --tls-cert, --tls-key and --client-ca it serves https and requires a client
    certificate from that CA (strongbox pki issue; docs/oauth.md)."""
    from strongbox.connectors.simulator.http import serve as sim_serve

    tls = (tls_cert, tls_key, client_ca)
    if not any(tls):
        sim_serve(host, port, latency_ms=latency_ms)
        return
    if tls_cert is None or tls_key is None or client_ca is None:
        raise typer.BadParameter(
            "--tls-cert, --tls-key and --client-ca go together", param_hint="--tls-cert"
        )
    _serve_simulator_mtls(host, port, latency_ms, tls_cert, tls_key, client_ca, crl)


def _serve_simulator_mtls(
    host: str, port: int, latency_ms: int, cert: Path, key: Path, ca: Path, crl: Path | None
) -> None:
    import ipaddress

    import uvicorn

    from strongbox.auth.pki.tls import server_context
    from strongbox.connectors.simulator.engine import SimulatorEngine
    from strongbox.connectors.simulator.http import create_app as simulator_app

    try:
        unspecified = ipaddress.ip_address(host).is_unspecified  # bound to every interface
    except ValueError:
        unspecified = False
    shown = "localhost" if unspecified else host
    engine = SimulatorEngine(base_url=f"https://{shown}:{port}", latency_ms=latency_ms)
    uvicorn.run(
        simulator_app(engine),
        host=host,
        port=port,
        ssl_context_factory=lambda _config, _default: server_context(cert, key, ca, crl),
        log_config=None,
    )


if __name__ == "__main__":  # pragma: no cover
    app()
