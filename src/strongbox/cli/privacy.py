"""``strongbox privacy request create|show|list``: data subject requests from the shell.

The same service as ``/v1/privacy/requests``: a request is recorded, the subject found, and
an erasure run with its recorded steps and signed certificate, in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from strongbox.cli.common import command_runtime, merchant_scope

if TYPE_CHECKING:
    from strongbox.db.uow import UnitOfWork
    from strongbox.events.types import RequestContext
    from strongbox.runtime import Runtime

T = TypeVar("T")

privacy_app = typer.Typer(help="GDPR data subject requests.", no_args_is_help=True)
request_app = typer.Typer(
    help="Access (Art. 15), portability (Art. 20) and erasure (Art. 17) requests.",
    no_args_is_help=True,
)
privacy_app.add_typer(request_app, name="request")

MerchantArg = Annotated[str, typer.Argument(help="Merchant id (acct_…).")]
RequestArg = Annotated[str, typer.Argument(help="Request id (dsr_…).")]


def _run(merchant_id: str, work: Callable[[Runtime, UnitOfWork, RequestContext], T]) -> T:
    """``work`` for the merchant, committed; Stripe-shaped errors are usage errors (exit 2)."""
    from strongbox.core.errors import StrongboxError

    with (
        command_runtime() as rt,
        merchant_scope(
            rt, merchant_id, param_hint="MERCHANT", missing=f"no merchant {merchant_id}"
        ) as (uow, ctx),
    ):
        try:
            result = work(rt, uow, ctx)
        except StrongboxError as exc:
            raise typer.BadParameter(exc.message, param_hint=exc.param or "REQUEST") from None
        uow.commit()
        return result


@request_app.command("create")
def create(
    merchant: MerchantArg,
    type_: Annotated[
        str, typer.Option("--type", help="access | portability | erasure.", show_default=False)
    ],
    customer: Annotated[str | None, typer.Option(help="The subject's customer id.")] = None,
    email: Annotated[str | None, typer.Option(help="The subject's email address.")] = None,
) -> None:
    """Create a request (an erasure runs at once); prints it as JSON."""
    from strongbox.privacy import service

    def work(rt: Runtime, uow: UnitOfWork, ctx: RequestContext) -> dict[str, Any]:
        row = service.create_request(
            uow,
            ctx,
            rt.vault.service,
            rt.audit.signer,
            type_=type_,
            customer=customer,
            email=email,
            journal=rt.privacy_journal,
        )
        return service.render_request(row)

    typer.echo(json.dumps(_run(merchant, work), indent=2))


@request_app.command("show")
def show(
    merchant: MerchantArg,
    request_id: RequestArg,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the export (access, portability) to this file."),
    ] = None,
    html: Annotated[bool, typer.Option(help="The export as an HTML summary.")] = False,
) -> None:
    """Print a request as JSON; with --export, write its personal data bundle to a file."""
    from strongbox.privacy import service

    def work(rt: Runtime, uow: UnitOfWork, ctx: RequestContext) -> dict[str, Any]:
        row = service.get_request(uow, ctx, request_id)
        if export is not None:
            bundle, page = service.export(uow, ctx, request_id, "html" if html else "json")
            text = page if page is not None else json.dumps(bundle, indent=2)
            export.write_text(text)
            export.chmod(0o600)
        return service.render_request(row)

    typer.echo(json.dumps(_run(merchant, work), indent=2))


@request_app.command("list")
def list_(merchant: MerchantArg) -> None:
    """Print the merchant's requests, one line each: id, type, status, due date."""
    from strongbox.privacy import repository

    def work(rt: Runtime, uow: UnitOfWork, ctx: RequestContext) -> list[str]:
        return [
            f"{r.id}\t{r.type}\t{r.status}\tdue {r.due_at.date().isoformat()}"
            for r in repository.all_requests(uow.session, ctx.merchant_id)
        ]

    for line in _run(merchant, work):
        typer.echo(line)
