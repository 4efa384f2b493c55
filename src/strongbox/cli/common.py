"""Shared pieces of the operator commands: a runtime for one command, and one unit of work
acting for a merchant (``--merchant``) whose result is printed as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from strongbox.core.errors import StrongboxError
from strongbox.core.settings import Settings


@contextmanager
def command_runtime() -> Iterator[Any]:
    from strongbox.runtime import build_runtime

    rt = build_runtime(Settings())
    try:
        yield rt
    finally:
        rt.close()


def merchant_unit_of_work(merchant: str, fn: Callable[[Any, Any, Any], dict[str, Any]]) -> None:
    """Run ``fn(rt, uow, ctx)`` in one unit of work for ``merchant`` and print its result as
    JSON; a Stripe-shaped error goes to stderr with exit code 1 and nothing is committed."""
    from strongbox.auth import repository as merchants
    from strongbox.events.types import RequestContext

    with command_runtime() as rt:
        try:
            with rt.db.unit_of_work() as uow:
                if merchants.get_merchant(uow.session, merchant) is None:
                    raise typer.BadParameter("no such merchant", param_hint="--merchant")
                ctx = RequestContext(merchant_id=merchant, actor="cli")
                out = fn(rt, uow, ctx)
                uow.commit()
        except StrongboxError as exc:
            typer.echo(json.dumps(exc.to_dict()), err=True)
            raise typer.Exit(1) from None
    typer.echo(json.dumps(out))
