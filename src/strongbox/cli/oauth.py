"""``strongbox oauth clients create|list|revoke`` and ``strongbox oauth keys rotate|list``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strongbox.cli.common import command_runtime, merchant_unit_of_work

if TYPE_CHECKING:
    from strongbox.auth.oauth.tokens import Issuer
    from strongbox.db.uow import UnitOfWork
    from strongbox.events.types import RequestContext

oauth_app = typer.Typer(help="OAuth2: client applications and signing keys.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth2 client applications.", no_args_is_help=True)
keys_app = typer.Typer(help="The access tokens' signing keys (ES256).", no_args_is_help=True)
oauth_app.add_typer(clients_app, name="clients")
oauth_app.add_typer(keys_app, name="keys")

MerchantArg = Annotated[str, typer.Argument(help="Merchant id (acct_…).")]


@clients_app.command("create")
def create(
    merchant: MerchantArg,
    name: Annotated[str, typer.Argument(help="The application's name, shown on consent.")],
    scope: Annotated[
        str, typer.Option(help="Space-separated permissions it may get, e.g. 'customers:read'.")
    ],
    client_type: Annotated[
        str, typer.Option("--type", help="confidential (has a secret) or public (PKCE only).")
    ] = "confidential",
    redirect_uri: Annotated[
        list[str] | None, typer.Option(help="An exact redirect URI (repeat for more).")
    ] = None,
    grant_type: Annotated[
        list[str] | None,
        typer.Option(help="authorization_code, refresh_token, client_credentials (repeat)."),
    ] = None,
) -> None:
    """Register a client; prints it as JSON with its secret (shown only this once)."""
    from strongbox.auth.oauth import clients

    def work(rt: Any, uow: UnitOfWork, ctx: RequestContext) -> dict[str, Any]:
        new = clients.create_client(
            uow,
            ctx,
            name=name,
            kind=client_type,
            scope=scope,
            redirect_uris=redirect_uri or [],
            grant_types=grant_type or None,
        )
        out = clients.render(new.client)
        if new.secret is not None:
            out["client_secret"] = new.secret.reveal()
        return out

    merchant_unit_of_work(merchant, work, param_hint="MERCHANT")


@clients_app.command("list")
def list_(merchant: MerchantArg) -> None:
    """Print the merchant's clients as JSON lines (newest first)."""
    from strongbox.auth.oauth import clients
    from strongbox.cli.common import merchant_scope
    from strongbox.db.pagination import PageRequest

    with (
        command_runtime() as rt,
        merchant_scope(rt, merchant, param_hint="MERCHANT") as (
            uow,
            ctx,
        ),
    ):
        cursor: str | None = None
        while True:
            page = clients.list_clients(uow, ctx, PageRequest(limit=100, starting_after=cursor))
            for row in page.data:
                typer.echo(json.dumps(clients.render(row)))
            if not page.has_more:
                return
            cursor = page.data[-1].id


@clients_app.command("revoke")
def revoke(
    merchant: MerchantArg,
    client_id: Annotated[str, typer.Argument(help="The client id (oac_…).")],
) -> None:
    """Revoke a client: its refresh tokens at once, its access tokens on their next use."""
    from strongbox.auth.oauth import clients

    def work(rt: Any, uow: UnitOfWork, ctx: RequestContext) -> dict[str, Any]:
        row = clients.revoke_client(uow, ctx, clients.get_client(uow, ctx, client_id))
        return clients.render(row)

    merchant_unit_of_work(merchant, work, param_hint="MERCHANT")


@keys_app.command("rotate")
def rotate() -> None:
    """Make a new signing key now; the previous one verifies until its tokens expire."""
    from strongbox.events.types import RequestContext

    with command_runtime() as rt, rt.db.unit_of_work() as uow:
        row = _issuer(rt).keys.rotate(uow, RequestContext(merchant_id="", actor="cli"))
        uow.commit()
        typer.echo(json.dumps({"kid": row.id, "algorithm": row.algorithm}))


@keys_app.command("list")
def list_keys() -> None:
    """Print the published keys (the JWKS) as JSON."""
    with command_runtime() as rt, rt.db.read() as session:
        typer.echo(json.dumps(_issuer(rt).keys.jwks(session)))


def _issuer(rt: Any) -> Issuer:
    issuer: Issuer | None = rt.oauth
    if issuer is None:
        raise typer.BadParameter("OAuth2 is not configured on this instance")
    return issuer
