"""``strongbox recon …``: import a gateway's report, reconcile a day."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from strongbox.cli.common import command_runtime
from strongbox.core.errors import StrongboxError
from strongbox.events.types import RequestContext
from strongbox.reconciliation import repository as repo
from strongbox.reconciliation import service as recon
from strongbox.reconciliation.formats import FORMATS
from strongbox.reconciliation.schemas import render_import, render_run

recon_app = typer.Typer(help="Reconciliation against gateway reports.", no_args_is_help=True)

CTX_ACTOR = "cli"


def _fail(exc: StrongboxError) -> typer.Exit:
    typer.echo(json.dumps(exc.to_dict()), err=True)
    return typer.Exit(1)


@recon_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    connector_account: Annotated[
        str, typer.Option("--connector-account", help="The connector account (mca_…).")
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"One of {', '.join(FORMATS)} (default: detected)."),
    ] = None,
) -> None:
    """Import a settlement report file in the gateway's own format."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise typer.BadParameter("the file is not UTF-8 text", param_hint="FILE") from None
    with command_runtime() as rt, rt.db.unit_of_work() as uow:
        merchant = repo.account_owner(uow.session, connector_account)
        if merchant is None:
            raise typer.BadParameter("no such connector account", param_hint="--connector-account")
        ctx = RequestContext(merchant_id=merchant, actor=CTX_ACTOR)
        try:
            record = recon.import_report(
                uow, ctx, connector_account, text, fmt=fmt, filename=file.name
            )
        except StrongboxError as exc:
            raise _fail(exc) from None
        out = render_import(record)
        uow.commit()
    typer.echo(json.dumps(out))


@recon_app.command("run")
def run(
    date: Annotated[str, typer.Option("--date", help="The day (UTC), YYYY-MM-DD.")],
    connector_account: Annotated[
        str | None,
        typer.Option(
            "--connector-account", help="One account (default: every account with lines)."
        ),
    ] = None,
    window_days: Annotated[int, typer.Option(min=0, max=7, help="Date window.")] = 2,
) -> None:
    """Reconcile a day: print each account's run report; exit 1 if exceptions are open."""
    try:
        day = recon.parse_day(date).isoformat()
    except StrongboxError as exc:
        raise typer.BadParameter(exc.message, param_hint="--date") from None
    open_total = 0
    with command_runtime() as rt:
        with rt.db.read() as session:
            if connector_account is None:
                targets = repo.accounts_with_lines(session, day)
            else:
                owner = repo.account_owner(session, connector_account)
                if owner is None:
                    raise typer.BadParameter(
                        "no such connector account", param_hint="--connector-account"
                    )
                targets = [(owner, connector_account)]
        for merchant, account in targets:
            ctx = RequestContext(merchant_id=merchant, actor=CTX_ACTOR)
            with rt.db.unit_of_work() as uow:
                try:
                    out = recon.run_day(uow, ctx, account, day, window=timedelta(days=window_days))
                except StrongboxError as exc:
                    raise _fail(exc) from None
                n = repo.count_open(uow.session, merchant, account, day)
                body = render_run(out.run, n)
                uow.commit()
            open_total += n
            typer.echo(json.dumps(body))
    if not targets:
        typer.echo(f"no report lines for {day}", err=True)
    if open_total:
        raise typer.Exit(1)
