"""``strongbox access request|break-glass|approve|refuse|revoke|list``: just-in-time access.

Requesting, break-glass and approving act as an operator: ``strongbox --as EMAIL access …``
(the two-person rule needs to know who approves). Revoking and listing also work as the
installation's administrator. Output is JSON.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from strongbox.cli.users import MerchantOpt, actor_of, merchant_uow

access_app = typer.Typer(help="Just-in-time access to a higher role.", no_args_is_help=True)

GrantArg = Annotated[str, typer.Argument(help="Access grant id (agr_…).")]
RoleOpt = Annotated[str, typer.Option("--role", help="The role asked for.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (10 to 500 characters).")]
MinutesOpt = Annotated[int, typer.Option("--minutes", min=1, help="How long.")]


def _operator(ctx: typer.Context) -> Any:
    principal = ctx.find_root().obj
    if getattr(principal, "operator_id", None) is None:
        raise typer.BadParameter("run as an operator: strongbox --as EMAIL access …")
    return principal


def _load_operator(uow: Any, principal: Any) -> Any:
    from strongbox.auth import operators

    return operators.get(uow, principal.merchant_id, principal.operator_id)


@access_app.command("request")
def request(ctx: typer.Context, role: RoleOpt, reason: ReasonOpt, minutes: MinutesOpt) -> None:
    """Ask for a role for a while; another operator approves."""
    from strongbox.auth import access_grants

    who = _operator(ctx)
    with merchant_uow(who.merchant_id, actor_of(ctx)) as (rt, uow, rctx):
        op = _load_operator(uow, who)
        most = rt.settings.access_grant_max_minutes
        g = access_grants.request(uow, rctx, op, role, reason, minutes, most)
        out = access_grants.render_grant(g)
        uow.commit()
    typer.echo(json.dumps(out))


@access_app.command("break-glass")
def break_glass(ctx: typer.Context, role: RoleOpt, reason: ReasonOpt, minutes: MinutesOpt) -> None:
    """Take a role now, without approval, for at most an hour: alerts at once."""
    from strongbox.auth import access_grants

    who = _operator(ctx)
    with merchant_uow(who.merchant_id, actor_of(ctx)) as (_rt, uow, rctx):
        op = _load_operator(uow, who)
        g = access_grants.break_glass(uow, rctx, op, role, reason, minutes)
        out = access_grants.render_grant(g)
        uow.commit()
    typer.echo(json.dumps(out))


def _decide(ctx: typer.Context, grant: str, decision: str) -> None:
    from strongbox.auth import access_grants

    who = _operator(ctx)
    with merchant_uow(who.merchant_id, actor_of(ctx)) as (_rt, uow, rctx):
        op = _load_operator(uow, who)
        g = access_grants.get(uow, rctx.merchant_id, grant)
        if decision == "approve":
            access_grants.approve(uow, rctx, op, who.permissions, g)
        else:
            access_grants.refuse(uow, rctx, op, who.permissions, g)
        out = access_grants.render_grant(g)
        uow.commit()
    typer.echo(json.dumps(out))


@access_app.command("approve")
def approve(ctx: typer.Context, grant: GrantArg) -> None:
    """Approve another operator's request (two-person rule)."""
    _decide(ctx, grant, "approve")


@access_app.command("refuse")
def refuse(ctx: typer.Context, grant: GrantArg) -> None:
    """Refuse another operator's request."""
    _decide(ctx, grant, "refuse")


@access_app.command("revoke")
def revoke(ctx: typer.Context, grant: GrantArg, merchant: MerchantOpt = None) -> None:
    """End a pending or active grant now."""
    from strongbox.auth import access_grants

    principal = ctx.find_root().obj
    where = getattr(principal, "merchant_id", None) or merchant
    with merchant_uow(where, actor_of(ctx)) as (_rt, uow, rctx):
        g = access_grants.revoke(uow, rctx, access_grants.get(uow, rctx.merchant_id, grant))
        out = access_grants.render_grant(g)
        uow.commit()
    typer.echo(json.dumps(out))


@access_app.command("list")
def list_(ctx: typer.Context, merchant: MerchantOpt = None) -> None:
    """Grants, newest first, one JSON object a line (an operator without
    ``access_grants:read`` sees only their own)."""
    from strongbox.auth import access_grants
    from strongbox.auth.permissions import allows
    from strongbox.db.pagination import PageRequest

    principal = ctx.find_root().obj
    where = getattr(principal, "merchant_id", None) or merchant
    mine = None
    if getattr(principal, "permissions", None) is not None and not allows(
        principal.permissions, "access_grants", "read"
    ):
        mine = principal.operator_id
    with merchant_uow(where, actor_of(ctx)) as (_rt, uow, rctx):
        page = access_grants.list_grants(uow, rctx.merchant_id, PageRequest(limit=100), mine)
        for g in page.data:
            typer.echo(json.dumps(access_grants.render_grant(g)))
