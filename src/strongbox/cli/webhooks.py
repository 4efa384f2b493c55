"""``strongbox webhooks …``: endpoints, secret rotation, redelivery, attempts, gateway accounts.

Operator commands: they act for the merchant given with ``--merchant`` and print JSON.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from strongbox.cli.common import merchant_unit_of_work as _write

app = typer.Typer(help="Webhook endpoints, deliveries and gateway accounts.", no_args_is_help=True)

Merchant = Annotated[str, typer.Option("--merchant", help="Merchant id (acct_…).")]


def _params(model: Any, raw: dict[str, Any]) -> Any:
    from strongbox.core.params import validate_params

    return validate_params(model, {k: v for k, v in raw.items() if v is not None})


@app.command("create")
def create(
    merchant: Merchant,
    url: Annotated[str, typer.Option(help="Where to deliver.")],
    event: Annotated[list[str], typer.Option("--event", help="Event type or '*' (repeat).")],
    description: Annotated[str | None, typer.Option()] = None,
    ed25519: Annotated[bool, typer.Option(help="Also sign with Ed25519 (v1a).")] = False,
) -> None:
    """Create an endpoint; prints it with its whsec_ secret (shown only this once)."""
    from strongbox.webhooks import schemas, service

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        p = _params(
            schemas.CreateEndpointParams,
            {"url": url, "enabled_events": event, "description": description, "ed25519": ed25519},
        )
        e, secret = service.create_endpoint(uow, ctx, rt.sealer, p)
        return {**schemas.render_endpoint(e), "secret": secret.reveal()}

    _write(merchant, run)


@app.command("list")
def list_(merchant: Merchant) -> None:
    """List the merchant's endpoints (up to 100)."""
    from strongbox.db.pagination import PageRequest
    from strongbox.webhooks import schemas, service

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        page = service.list_endpoints(uow, ctx, PageRequest(limit=100), None)
        return {"data": [schemas.render_endpoint(e) for e in page.data], "has_more": page.has_more}

    _write(merchant, run)


@app.command("rotate-secret")
def rotate_secret(
    merchant: Merchant,
    endpoint: Annotated[str, typer.Argument(help="we_…")],
    expires_in: Annotated[
        int, typer.Option(help="Seconds the old secret keeps signing (0-604800).")
    ] = 86400,
) -> None:
    """A new secret; both are signed with until the old one expires. Prints the new one."""
    from strongbox.webhooks import schemas, service

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        p = _params(schemas.RotateSecretParams, {"expires_in": expires_in})
        e, secret = service.rotate_secret(uow, ctx, rt.sealer, endpoint, p.expires_in)
        return {**schemas.render_endpoint(e), "secret": secret.reveal()}

    _write(merchant, run)


@app.command("redeliver")
def redeliver(
    merchant: Merchant,
    endpoint: Annotated[str, typer.Argument(help="we_…")],
    event: Annotated[str, typer.Argument(help="evt_…")],
) -> None:
    """Deliver an event to an endpoint again (the delivery worker sends it right away)."""
    from strongbox.webhooks import schemas, service

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        return schemas.render_delivery(service.redeliver(uow, ctx, endpoint, event))

    _write(merchant, run)


@app.command("attempts")
def attempts(
    merchant: Merchant,
    endpoint: Annotated[str, typer.Argument(help="we_…")],
    event: Annotated[str | None, typer.Option(help="Only this event's attempts.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The latest delivery attempts to an endpoint (status, latency, response excerpt)."""
    from strongbox.db.pagination import PageRequest
    from strongbox.webhooks import schemas, service

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        page = service.list_attempts(uow, ctx, endpoint, PageRequest(limit=limit), event, None)
        return {"data": [schemas.render_attempt(a) for a in page.data], "has_more": page.has_more}

    _write(merchant, run)


@app.command("add-gateway")
def add_gateway(
    merchant: Merchant,
    connector: Annotated[str, typer.Argument(help="stripe, braintree, adyen or simulator")],
    signing_secret: Annotated[
        str | None,
        typer.Option(
            help="Stripe/simulator signing secret; Adyen: the hex HMAC key.",
            envvar="SIGNING_SECRET",
        ),
    ] = None,
    public_key: Annotated[str | None, typer.Option(help="Braintree public key.")] = None,
    private_key: Annotated[
        str | None, typer.Option(help="Braintree private key.", envvar="BRAINTREE_PRIVATE_KEY")
    ] = None,
    account: Annotated[str | None, typer.Option(help="The gateway's account id.")] = None,
    basic_auth_username: Annotated[
        str | None, typer.Option(help="Adyen: Basic auth user name of the endpoint.")
    ] = None,
    basic_auth_password: Annotated[
        str | None,
        typer.Option(help="Adyen: Basic auth password.", envvar="BASIC_AUTH_PASSWORD"),
    ] = None,
) -> None:
    """Allow a gateway account to post webhooks; prints the URL to configure at the gateway."""
    from strongbox.webhooks import inbound, schemas

    def run(rt: Any, uow: Any, ctx: Any) -> dict[str, Any]:
        p = _params(
            schemas.CreateInboundAccountParams,
            {
                "connector": connector,
                "signing_secret": signing_secret,
                "public_key": public_key,
                "private_key": private_key,
                "account": account,
                "basic_auth_username": basic_auth_username,
                "basic_auth_password": basic_auth_password,
            },
        )
        a = inbound.create_account(uow, ctx, rt.sealer, p)
        return schemas.render_inbound_account(a, rt.settings.public_url)

    _write(merchant, run)
