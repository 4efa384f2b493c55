"""``strongbox integrity …``: seal the critical tables, verify them, compare two databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from strongbox.cli.common import command_runtime
from strongbox.core.settings import normalize_database_url
from strongbox.db.engine import make_engine
from strongbox.reconciliation import integrity

integrity_app = typer.Typer(
    help="SHA-256 seals of the critical tables, per day of data.", no_args_is_help=True
)


@integrity_app.command("seal")
def seal() -> None:
    """Seal every critical table now (today's rows so far included); print the seal."""
    with command_runtime() as rt:
        sink = integrity.sink_for(rt.settings.data_dir, rt.settings.integrity_seals_file)
        s = integrity.seal(rt.db, rt.audit.signer, sink)
    assert s is not None  # on demand: always sealed
    tables = {t: sum(d["rows"] for d in days.values()) for t, days in s.digests.items()}
    typer.echo(json.dumps({"id": s.id, "sealed_at": s.sealed_at, "chain": s.chain, "rows": tables}))


@integrity_app.command("verify")
def verify(
    public_key: Annotated[
        str | None, typer.Option(help="The Ed25519 public key (base64) seals must carry.")
    ] = None,
) -> None:
    """Check every seal and recompute the digests; exit 1 naming the first table and day
    whose rows changed since the latest seal."""
    with command_runtime() as rt:
        sink = integrity.sink_for(rt.settings.data_dir, rt.settings.integrity_seals_file)
        result = integrity.verify(rt.db, sink, public_key=public_key)
    for problem in result.problems:
        typer.echo(problem, err=True)
    first = result.first
    if first is not None:
        typer.echo(
            f"first difference: table {first.table}, day {first.day} ({first.kind})", err=True
        )
    pruned = [d for d in result.differences if d.kind == "pruned"]
    body = {
        "seals": result.seals,
        "ok": result.ok,
        "first_difference": first.to_dict() if first else None,
        "differences": [d.to_dict() for d in result.differences if d.kind != "pruned"],
        "pruned": [{"table": d.table, "date": d.day} for d in pruned],
        "problems": result.problems,
    }
    typer.echo(json.dumps(body))
    if result.seals == 0:
        typer.echo("no seal yet: run strongbox integrity seal", err=True)
        raise typer.Exit(1)
    if not result.ok:
        raise typer.Exit(1)


@integrity_app.command("compare")
def compare(
    url: Annotated[str, typer.Argument(help="The other database (a replica, a restored backup).")],
) -> None:
    """List the tables and days whose rows differ between this database and URL."""
    until = datetime.now(UTC)
    other = make_engine(normalize_database_url(url), pool_size=1)
    try:
        with command_runtime() as rt:
            diffs = integrity.compare(rt.db, other, until)
    finally:
        other.dispose()
    typer.echo(
        json.dumps({"until": until.isoformat(), "differences": [d.to_dict() for d in diffs]})
    )
    if diffs:
        raise typer.Exit(1)
