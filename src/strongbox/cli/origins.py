"""``strongbox merchants origins add|list|remove``: origins allowed to embed the card fields."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from strongbox.cli.common import command_runtime, merchant_scope

if TYPE_CHECKING:
    from strongbox.db.uow import UnitOfWork
    from strongbox.events.types import RequestContext

T = TypeVar("T")

origins_app = typer.Typer(
    help="Web origins allowed to embed the hosted card fields (scheme://host[:port]).",
    no_args_is_help=True,
)

MerchantArg = Annotated[str, typer.Argument(help="Merchant id (acct_…).")]
OriginArg = Annotated[str, typer.Argument(help="Origin, e.g. https://shop.example.com.")]


def _run(merchant_id: str, work: Callable[[UnitOfWork, RequestContext], T], *, write: bool) -> T:
    """``work`` for the merchant; its Stripe-shaped errors are usage errors (exit code 2)."""
    from strongbox.core.errors import StrongboxError

    with (
        command_runtime() as rt,
        merchant_scope(
            rt, merchant_id, param_hint="MERCHANT", missing=f"no merchant {merchant_id}"
        ) as (uow, ctx),
    ):
        try:
            result = work(uow, ctx)
        except StrongboxError as exc:
            raise typer.BadParameter(exc.message, param_hint=exc.param or "ORIGIN") from None
        if write:
            uow.commit()
        return result


@origins_app.command("add")
def add(merchant: MerchantArg, origin: OriginArg) -> None:
    """Register an origin; prints it as JSON."""
    from strongbox.auth import origins

    def work(uow: UnitOfWork, ctx: RequestContext) -> dict[str, object]:
        row = origins.add_origin(uow, ctx, origin)
        return origins.render_origin(row)

    typer.echo(json.dumps(_run(merchant, work, write=True)))


@origins_app.command("list")
def list_(merchant: MerchantArg) -> None:
    """Print the merchant's registered origins, one per line (newest first)."""
    from strongbox.auth import origins
    from strongbox.db.pagination import PageRequest

    def work(uow: UnitOfWork, ctx: RequestContext) -> list[str]:
        found: list[str] = []
        cursor: str | None = None
        while True:
            page = origins.list_origins(uow, ctx, PageRequest(limit=100, starting_after=cursor))
            found.extend(o.origin for o in page.data)
            if not page.has_more:
                return found
            cursor = page.data[-1].id

    for line in _run(merchant, work, write=False):
        typer.echo(line)


@origins_app.command("remove")
def remove(merchant: MerchantArg, origin: OriginArg) -> None:
    """Remove a registered origin (pages on it can no longer embed the card fields)."""
    from strongbox.auth import origins

    def work(uow: UnitOfWork, ctx: RequestContext) -> str:
        row = origins.find_by_origin(uow, ctx, origin)
        origins.remove_origin(uow, ctx, row)
        return row.origin

    typer.echo(f"removed {_run(merchant, work, write=True)}")
