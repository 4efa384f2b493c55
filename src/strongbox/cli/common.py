"""Shared pieces of the operator commands: a runtime for one command, and one unit of work
acting for a merchant (``--merchant``) whose result is printed as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError

from strongbox.core.errors import StrongboxError
from strongbox.core.settings import Settings

if TYPE_CHECKING:
    from strongbox.db.uow import UnitOfWork
    from strongbox.events.types import RequestContext


def load_settings() -> Settings:
    """The settings from the environment; a setting refused at start (an out-of-range value,
    a recovery age shorter than the longest gateway call …) is one clear line each, exit 2."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            label = f"STRONGBOX_{where.upper()}: " if where else ""
            typer.echo(f"strongbox: invalid settings: {label}{message}", err=True)
        raise typer.Exit(code=2) from None


@contextmanager
def command_runtime() -> Iterator[Any]:
    from strongbox.runtime import build_runtime

    rt = build_runtime(load_settings())
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def merchant_scope(
    rt: Any, merchant: str, *, param_hint: str = "--merchant", missing: str = "no such merchant"
) -> Iterator[tuple[UnitOfWork, RequestContext]]:
    """One unit of work acting for ``merchant`` (a usage error if there is none); the caller
    commits. ``param_hint`` and ``missing`` word the usage error."""
    from strongbox.auth import repository as merchants
    from strongbox.events.types import RequestContext

    with rt.db.unit_of_work() as uow:
        if merchants.get_merchant(uow.session, merchant) is None:
            raise typer.BadParameter(missing, param_hint=param_hint)
        yield uow, RequestContext(merchant_id=merchant, actor="cli")


def merchant_unit_of_work(
    merchant: str,
    fn: Callable[[Any, Any, Any], dict[str, Any]],
    *,
    param_hint: str = "--merchant",
) -> None:
    """Run ``fn(rt, uow, ctx)`` in one unit of work for ``merchant`` and print its result as
    JSON; a Stripe-shaped error goes to stderr with exit code 1 and nothing is committed."""
    with command_runtime() as rt:
        try:
            with merchant_scope(rt, merchant, param_hint=param_hint) as (uow, ctx):
                out = fn(rt, uow, ctx)
                uow.commit()
        except StrongboxError as exc:
            typer.echo(json.dumps(exc.to_dict()), err=True)
            raise typer.Exit(1) from None
    typer.echo(json.dumps(out))
