"""``strongbox keys list|rotate|rotate-kek``: the vault's key hierarchy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from strongbox.cli.common import load_settings

if TYPE_CHECKING:
    from strongbox.runtime import Runtime

keys_app = typer.Typer(
    help="Vault keys: list, rotate data keys (re-encrypting records), rotate the KEK.",
    no_args_is_help=True,
)


@contextmanager
def _runtime() -> Iterator[Runtime]:
    from strongbox.core.errors import StrongboxError
    from strongbox.runtime import build_runtime

    try:
        rt = build_runtime(load_settings())
    except StrongboxError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    try:
        yield rt
    except StrongboxError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        rt.close()


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Key versions with status, age, records using each, and overdue keys."""
    with _runtime() as rt, rt.db.read() as session:
        infos = rt.vault.keys.list_keys(session, rt.db.clock.now())
        days = rt.settings.key_cryptoperiod_days
    if as_json:
        typer.echo(
            json.dumps({"cryptoperiod_days": days, "keys": [i.as_dict() for i in infos]}, indent=2)
        )
        return
    typer.echo(f"{'KIND':<6} {'VER':>4} {'STATUS':<9} {'CREATED':<20} {'AGE':>6} {'RECORDS':>8}")
    for i in infos:
        created = i.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        records = "-" if i.records is None else str(i.records)
        flag = "  OVERDUE" if i.overdue else ""
        typer.echo(
            f"{i.kind:<6} {i.version:>4} {i.status:<9} {created:<20} {i.age_days:>5}d "
            f"{records:>8}{flag}"
        )
    overdue = [i for i in infos if i.overdue]
    if overdue:
        typer.echo(
            f"{len(overdue)} key(s) older than the {days}-day cryptoperiod: run "
            "`strongbox keys rotate` (data keys) or `strongbox keys rotate-kek`."
        )


@keys_app.command("rotate")
def keys_rotate(
    resume: Annotated[
        bool, typer.Option("--resume", help="Only finish an earlier rotation's re-encryption.")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Re-encrypt now, or leave it to the server."),
    ] = True,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Records per transaction.")] = 200,
) -> None:
    """New active data key; re-encrypt existing records onto it (resumable, no downtime)."""
    from strongbox.vault.keys import system_context
    from strongbox.vault.tasks import reencrypt_all

    with _runtime() as rt:
        if not resume:
            with rt.db.unit_of_work() as uow:
                new = rt.vault.keys.rotate(uow, system_context("cli"))
                uow.commit()
            typer.echo(
                f"new active data key v{new['data']} (sealing key v{new['seal']}); "
                "older versions are decrypt-only"
            )
        if not wait:
            typer.echo("re-encryption continues in the server's background worker")
            return
        with rt.db.read() as session:
            remaining = rt.vault.keys.remaining(session)
        with typer.progressbar(length=remaining, label="re-encrypting") as bar:
            moved = reencrypt_all(rt.db, rt.vault.keys, batch=batch, progress=bar.update)
        typer.echo(f"re-encrypted {moved} record(s)")
        with rt.db.read() as session:
            statuses = [
                f"v{i.version}:{i.status}"
                for i in rt.vault.keys.list_keys(session, datetime.now(UTC))
                if i.kind == "data"
            ]
        typer.echo("data keys: " + " ".join(statuses))


@keys_app.command("rotate-kek")
def keys_rotate_kek() -> None:
    """New key-encryption key in the provider; re-wrap every data key; destroy the old KEK."""
    from strongbox.vault.keys import system_context

    with _runtime() as rt:
        with rt.db.unit_of_work() as uow:
            version = rt.vault.keys.rotate_kek(uow, system_context("cli"))
            uow.commit()
        typer.echo(f"key-encryption key v{version} is active; data keys re-wrapped")
