"""``strongbox compliance …``: run the PCI DSS self-checks; render the controls table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from strongbox.cli.common import command_runtime

compliance_app = typer.Typer(
    help="PCI DSS v4.0.1 self-checks with signed evidence (docs/compliance.md).",
    no_args_is_help=True,
)


@compliance_app.command("check")
def check(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the signed report as JSON.")
    ] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write an HTML report.")] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also write a PDF report.")] = None,
    scan: Annotated[
        bool,
        typer.Option(
            "--scan/--no-scan",
            help="First audit the dependency lock with pip-audit (needs the advisory data; "
            "without it the last recorded scan is reported).",
        ),
    ] = False,
    lock: Annotated[
        Path | None, typer.Option(help="The hashed requirements file --scan audits.")
    ] = None,
) -> None:
    """Run every control now, store the signed report; exit 1 when a control fails."""
    from strongbox.compliance import render, service
    from strongbox.compliance.vulnscan import NoScan
    from strongbox.workers import compliance as wiring

    if pdf is not None and not render.pdf_available():
        raise typer.BadParameter("PDF output needs fpdf2 (pip install fpdf2)", param_hint="--pdf")
    with command_runtime() as rt:
        if scan:
            outcome = wiring.scan(rt, lock)
            if isinstance(outcome, NoScan):
                typer.echo(f"no dependency scan: {outcome.reason}", err=True)
        report = wiring.check(rt, trigger="cli")
        doc = service.render_report(report)
    if html is not None:
        html.write_text(render.html(doc), encoding="utf-8")
    if pdf is not None:
        render.pdf(doc, pdf)
    typer.echo(json.dumps(doc, indent=2) if as_json else render.text(doc))
    if report.failed:
        raise typer.Exit(code=1)


@compliance_app.command("controls")
def controls(
    write: Annotated[
        Path | None, typer.Option(help="Replace the generated table in this Markdown file.")
    ] = None,
) -> None:
    """Print the controls table of docs/compliance.md, generated from the registry."""
    from strongbox.compliance import render
    from strongbox.compliance.controls import registry

    table = render.controls_table(registry())
    if write is None:
        typer.echo(table)
        return
    write.write_text(
        render.replace_table(write.read_text(encoding="utf-8"), table), encoding="utf-8"
    )
    typer.echo(f"{write}: controls table updated")
