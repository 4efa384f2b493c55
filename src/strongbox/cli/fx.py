"""``strongbox fx load``: load the ECB's reference rates from a file or a URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from strongbox.cli.common import command_runtime
from strongbox.fx import service as fx
from strongbox.fx.ecb import DAILY_URL, RatesUnreadable
from strongbox.fx.providers import EcbFile, EcbUrl, FetchFailed, RateProvider

fx_app = typer.Typer(help="Foreign-exchange rates.", no_args_is_help=True)


@fx_app.command("load")
def load(
    file: Annotated[Path | None, typer.Argument(help="An ECB eurofxref XML file.")] = None,
    url: Annotated[str | None, typer.Option(help=f"Fetch from a URL (e.g. {DAILY_URL}).")] = None,
) -> None:
    """Store the rates not stored yet (history kept) and refresh the cache."""
    if (file is None) == (url is None):
        raise typer.BadParameter("give a FILE or --url, not both", param_hint="FILE")
    provider: RateProvider = EcbFile(file) if file is not None else EcbUrl(url or DAILY_URL)
    with command_runtime() as rt:
        try:
            added = fx.load(rt.db, provider, rt.fx)
        except (FetchFailed, RatesUnreadable) as exc:
            typer.echo(f"strongbox: {exc}", err=True)
            raise typer.Exit(1) from None
        with rt.db.read() as session:
            latest = fx.latest(session, rt.fx)
    day = latest.day.isoformat() if latest else None
    typer.echo(json.dumps({"rows_added": added, "latest_date": day}))
