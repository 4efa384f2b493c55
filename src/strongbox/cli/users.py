"""``strongbox users create|invite|list|disable|reset-2fa|set-role``: operator accounts.

Passwords are read with a hidden prompt (or one line on stdin with ``--password-stdin``),
never from an argument. ``--merchant`` may be left out when the installation has one
merchant. The operator running the command (``strongbox --as EMAIL``) is checked against the
table in ``cli/permissions.py`` before anything runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strongbox.cli.common import command_runtime

if TYPE_CHECKING:
    from strongbox.db.uow import UnitOfWork
    from strongbox.events.types import RequestContext

users_app = typer.Typer(help="Operator accounts (people).", no_args_is_help=True)

EmailArg = Annotated[str, typer.Argument(help="The operator's email address.")]
MerchantOpt = Annotated[
    str | None, typer.Option("--merchant", help="Merchant id (acct_…); needed with several.")
]
RoleOpt = Annotated[
    str,
    typer.Option(
        "--role",
        help="owner, administrator, developer, analyst, support, view_only or auditor.",
    ),
]


def actor_of(ctx: typer.Context) -> str:
    principal = ctx.find_root().obj
    email = getattr(principal, "email", None)
    return f"operator:{email}" if email else "cli"


@contextmanager
def merchant_uow(
    merchant: str | None, actor: str
) -> Iterator[tuple[Any, UnitOfWork, RequestContext]]:
    """One unit of work for the merchant (the only one when not given); Stripe-shaped errors
    become usage errors (exit 2). The caller commits."""
    from sqlalchemy import select

    from strongbox.auth.models import Merchant
    from strongbox.core.errors import StrongboxError
    from strongbox.events.types import RequestContext

    with command_runtime() as rt, rt.db.unit_of_work() as uow:
        if merchant is None:
            ids = list(uow.session.scalars(select(Merchant.id).limit(2)))
            if len(ids) != 1:
                raise typer.BadParameter("name the merchant", param_hint="--merchant")
            merchant = ids[0]
        elif (
            uow.session.scalars(select(Merchant.id).where(Merchant.id == merchant)).first() is None
        ):
            raise typer.BadParameter(f"no merchant {merchant}", param_hint="--merchant")
        try:
            yield rt, uow, RequestContext(merchant_id=merchant, actor=actor)
        except StrongboxError as exc:
            raise typer.BadParameter(exc.message, param_hint=exc.param or "EMAIL") from None
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _on_operator(
    ctx: typer.Context, email: str, merchant: str | None, work: Callable[..., None]
) -> dict[str, Any]:
    """Run ``work(uow, ctx, operator)`` and return the operator as rendered after it."""
    from strongbox.auth import operators

    with merchant_uow(merchant, actor_of(ctx)) as (_rt, uow, rctx):
        op = operators.by_email(uow, rctx.merchant_id, email)
        work(uow, rctx, op)
        out = operators.render_operator(op)
        uow.commit()
        return out


@users_app.command("create")
def create(
    ctx: typer.Context,
    email: EmailArg,
    role: RoleOpt,
    merchant: MerchantOpt = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create an active operator with a password (prompted); prints the operator as JSON.
    The operator enrolls a second factor at the first sign-in."""
    from strongbox.auth import operators
    from strongbox.core.secret import Secret

    password = Secret(_password(password_stdin))
    with merchant_uow(merchant, actor_of(ctx)) as (_rt, uow, rctx):
        op = operators.create(uow, rctx, email, role, password)
        out = operators.render_operator(op)
        uow.commit()
    typer.echo(json.dumps(out))


@users_app.command("invite")
def invite(
    ctx: typer.Context, email: EmailArg, role: RoleOpt, merchant: MerchantOpt = None
) -> None:
    """Invite a person: prints the operator and the one-time invitation token as JSON."""
    from strongbox.auth import operators

    with merchant_uow(merchant, actor_of(ctx)) as (rt, uow, rctx):
        hours = rt.settings.operator_invitation_hours
        op, token = operators.invite(uow, rctx, email, role, timedelta(hours=hours))
        out = {**operators.render_operator(op), "invitation_token": token.reveal()}
        uow.commit()
    typer.echo(json.dumps(out))


@users_app.command("list")
def list_(merchant: MerchantOpt = None) -> None:
    """The merchant's operators, one JSON object a line."""
    from strongbox.auth import operator_repository as repo
    from strongbox.auth import operators
    from strongbox.db.pagination import PageRequest

    with merchant_uow(merchant, "cli") as (_rt, uow, rctx):
        after: str | None = None
        while True:
            page = repo.list_operators(
                uow.session, rctx.merchant_id, PageRequest(limit=100, starting_after=after)
            )
            for op in page.data:
                typer.echo(json.dumps(operators.render_operator(op)))
            if not page.has_more:
                break
            after = page.data[-1].id


@users_app.command("disable")
def disable(ctx: typer.Context, email: EmailArg, merchant: MerchantOpt = None) -> None:
    """Disable an operator and end their sessions."""
    from strongbox.auth import operators

    out = _on_operator(ctx, email, merchant, operators.disable)
    typer.echo(json.dumps(out))


@users_app.command("reset-2fa")
def reset_2fa(ctx: typer.Context, email: EmailArg, merchant: MerchantOpt = None) -> None:
    """Remove an operator's second factors (TOTP, recovery codes, security keys) and end
    their sessions: they enroll again at the next sign-in."""
    from strongbox.auth import operators

    out = _on_operator(ctx, email, merchant, operators.reset_2fa)
    typer.echo(json.dumps(out))


@users_app.command("set-role")
def set_role(
    ctx: typer.Context, email: EmailArg, role: RoleOpt, merchant: MerchantOpt = None
) -> None:
    """Change an operator's role."""
    from strongbox.auth import operators

    principal = ctx.find_root().obj
    actor_role = getattr(principal, "role", None)
    out = _on_operator(
        ctx, email, merchant, lambda u, c, op: operators.change_role(u, c, actor_role, op, role)
    )
    typer.echo(json.dumps(out))
