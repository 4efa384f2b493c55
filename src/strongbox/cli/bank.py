"""``strongbox bank subscribe-yodlee``: subscribe Yodlee's event notifications (issue 20)."""

from __future__ import annotations

import json

import typer

from strongbox.banking.providers.base import ProviderError
from strongbox.banking.setup import SetupError, subscribe_yodlee
from strongbox.cli.common import command_runtime

bank_app = typer.Typer(help="Bank data (Financial Connections).", no_args_is_help=True)


@bank_app.command("subscribe-yodlee")
def subscribe() -> None:
    """Subscribe REFRESH, AUTO_REFRESH_UPDATES and DATA_UPDATES to this server's receiver
    (idempotent: each subscription is created, moved to this URL, or left)."""
    with command_runtime() as rt:
        if rt.banking is None:
            typer.echo("strongbox: no bank-data provider is configured", err=True)
            raise typer.Exit(1)
        try:
            done = subscribe_yodlee(rt.banking)
        except SetupError as exc:
            typer.echo(f"strongbox: {exc}", err=True)
            raise typer.Exit(1) from None
        except ProviderError as exc:
            typer.echo(f"strongbox: Yodlee refused the subscription ({exc.code})", err=True)
            raise typer.Exit(1) from None
    typer.echo(json.dumps(done, sort_keys=True))
