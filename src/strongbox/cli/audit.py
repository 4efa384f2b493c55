"""``strongbox audit``: verify, sign a tree head, export with proofs, archive (retention)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from strongbox.cli.common import load_settings

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _time(value: str | None, param: str) -> datetime | None:
    """ISO 8601 (date or date-time, UTC if no offset) or Unix seconds."""
    if value is None:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), tz=UTC)
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        raise typer.BadParameter(
            "use an ISO 8601 date or date-time, or Unix seconds", param_hint=param
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit_app.command("verify")
def verify(
    heads_file: Annotated[
        Path | None, typer.Option(help="External head file to check (default: the configured one).")
    ] = None,
    public_key: Annotated[
        list[str] | None,
        typer.Option(help="Also trust heads signed by this key (base64); repeatable."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the tree from the stored entries; check every stored and external head.

    Exits 1 and names the first bad index on any edit, deletion, insertion or reordering.
    """
    from strongbox.runtime import build_runtime

    rt = build_runtime(load_settings())
    try:
        report = rt.audit.verify(rt.db, extra_keys=set(public_key or []), heads_file=heads_file)
    finally:
        rt.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(
            f"tree size {report.tree_size}: {report.entries_checked} entries and "
            f"{report.archived_checked} archived leaves recomputed, {report.heads_checked} "
            f"signed heads checked, {report.pending} entries waiting to be integrated"
        )
        for w in report.warnings:
            typer.echo(f"warning: {w}")
        for p in report.problems:
            typer.echo(f"FAILED: {p}", err=True)
    if not report.ok:
        where = report.first_bad_index
        typer.echo(
            f"audit log verification FAILED; first bad index: "
            f"{where if where is not None else 'unknown (see above)'}",
            err=True,
        )
        raise typer.Exit(1)
    if not as_json:
        typer.echo("audit log OK")


@audit_app.command("head")
def head(
    force: Annotated[bool, typer.Option(help="Sign even if the tree did not grow.")] = False,
) -> None:
    """Integrate committed entries and sign a tree head now; print the latest head as JSON."""
    from strongbox.audit.heads import latest_head
    from strongbox.runtime import build_runtime

    rt = build_runtime(load_settings())
    try:
        rt.audit.sign(rt.db, force=force)
        with rt.db.read() as session:
            latest = latest_head(session)
        if latest is None:
            latest = rt.audit.sign(rt.db, force=True)
    finally:
        rt.close()
    assert latest is not None
    typer.echo(json.dumps(latest.to_dict()))


@audit_app.command("export")
def export(
    since: Annotated[str | None, typer.Option(help="From this time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (exclusive).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
) -> None:
    """Write entries as JSONL with inclusion proofs against a signed head (first line)."""
    from strongbox.runtime import build_runtime

    start, end = _time(since, "--since"), _time(until, "--until")
    rt = build_runtime(load_settings())
    out = output.open("w") if output else sys.stdout
    n = 0
    try:
        for record in rt.audit.export(rt.db, start, end):
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            n += record["type"] == "entry"
    finally:
        rt.close()
        if output:
            out.close()
    if output:
        typer.echo(f"{n} entries written to {output}")


@audit_app.command("archive")
def archive() -> None:
    """Archive leaves older than the retention period to a compressed file (then drop them
    from the database); they stay verifiable."""
    from strongbox.runtime import build_runtime

    rt = build_runtime(load_settings())
    try:
        arch = rt.audit.archive(rt.db)
    finally:
        rt.close()
    if arch is None:
        typer.echo("nothing to archive: no entry is older than the retention period")
    else:
        typer.echo(f"archived indexes [{arch.first_index}, {arch.end_index}) to {arch.path}")
