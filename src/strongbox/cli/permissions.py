"""The permission every CLI command needs: the one table, checked once per invocation.

The root callback (``cli/main.py``) finds the command being run and checks its entry here
with ``route_permissions``' vocabulary. The principal is the operator named by ``--as EMAIL``
(or ``STRONGBOX_OPERATOR``): their role plus active grants. Without ``--as`` the command runs
as the installation's administrator (whoever holds the shell and the database credentials
is that already) and every check passes. ``LOCAL`` commands control the process itself
(serve, migrate) and name no merchant resource; ``SELF`` commands are an operator's own
(asking for access, listing their requests). ``tests/cli/test_cli_permissions.py`` walks the
command tree and fails for any command missing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from typer.core import TyperGroup

from strongbox.auth.permissions import Action, allows
from strongbox.core.errors import PermissionDeniedError

LOCAL: Final = "local"
SELF: Final = "self"
Need = tuple[str, Action] | str

COMMAND_PERMISSIONS: Final[dict[str, Need]] = {
    "serve": LOCAL,
    "demo": LOCAL,
    "db upgrade": LOCAL,
    "simulator serve": LOCAL,
    "merchants create": ("api_keys", "write"),
    "merchants origins add": ("merchant_origins", "write"),
    "merchants origins list": ("merchant_origins", "read"),
    "merchants origins remove": ("merchant_origins", "write"),
    "audit verify": ("audit", "read"),
    "audit head": ("audit", "read"),
    "audit export": ("audit", "read"),
    "audit archive": ("audit", "write"),
    "ledger verify": ("ledger", "read"),
    "ledger set-fee": ("ledger", "write"),
    "ledger expire": ("ledger", "write"),
    "recon import": ("reconciliation", "write"),
    "recon run": ("reconciliation", "write"),
    "integrity seal": ("reconciliation", "write"),
    "integrity verify": ("reconciliation", "read"),
    "integrity compare": ("reconciliation", "read"),
    "fx load": ("exchange_rates", "write"),
    "keys list": ("compliance", "read"),
    "keys rotate": ("compliance", "write"),
    "keys rotate-kek": ("compliance", "write"),
    "webhooks create": ("webhook_endpoints", "write"),
    "webhooks list": ("webhook_endpoints", "read"),
    "webhooks rotate-secret": ("webhook_endpoints", "write"),
    "webhooks redeliver": ("webhook_endpoints", "write"),
    "webhooks attempts": ("webhook_endpoints", "read"),
    "webhooks add-gateway": ("webhook_endpoints", "write"),
    "payments attempts": ("payment_intents", "read"),
    "payments resolve": ("payment_intents", "write"),
    "users create": ("operators", "write"),
    "users invite": ("operators", "write"),
    "users list": ("operators", "read"),
    "users disable": ("operators", "write"),
    "users reset-2fa": ("operators", "write"),
    "users set-role": ("operators", "write"),
    "access request": SELF,
    "access break-glass": SELF,
    "access list": SELF,
    "access approve": ("access_grants", "write"),
    "access refuse": ("access_grants", "write"),
    "access revoke": ("access_grants", "write"),
    "worker": LOCAL,
    "merchants settlement-currency": ("account", "write"),
    "bank subscribe-yodlee": ("financial_connections", "write"),
    "oauth clients create": ("api_keys", "write"),
    "oauth clients list": ("api_keys", "read"),
    "oauth clients revoke": ("api_keys", "write"),
    "oauth keys list": ("api_keys", "read"),
    "oauth keys rotate": ("api_keys", "write"),
    # the installation's CA: key management, as the vault's keys
    "pki init": ("compliance", "write"),
    "pki issue": ("compliance", "write"),
    "pki list": ("compliance", "read"),
    "pki revoke": ("compliance", "write"),
    "privacy request create": ("privacy", "write"),
    "privacy request list": ("privacy", "read"),
    "privacy request show": ("privacy", "read"),
    "compliance check": ("compliance", "write"),  # stores a signed report
    "compliance controls": ("compliance", "read"),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who runs the command: an operator (``email``, ``permissions``) or, with neither, the
    installation's administrator."""

    email: str | None = None
    permissions: frozenset[str] | None = None
    operator_id: str | None = None
    merchant_id: str | None = None
    role: str | None = None


def resolve(email: str | None) -> Principal:
    """The principal for ``--as EMAIL`` (an active operator's role plus active grants)."""
    if email is None:
        return Principal()
    from strongbox.auth import access_grants, operators
    from strongbox.cli.common import command_runtime
    from strongbox.core.errors import ResourceMissingError

    with command_runtime() as rt, rt.db.unit_of_work() as uow:
        try:
            op = operators.by_email(uow, None, email)
        except (ResourceMissingError, ValueError):
            op = None
        if op is None or op.status != "active":
            raise PermissionDeniedError("an active operator", "--as")
        return Principal(
            email=op.email,
            permissions=access_grants.effective_permissions(uow, op),
            operator_id=op.id,
            merchant_id=op.merchant_id,
            role=op.role,
        )


PATH_KEY: Final = "strongbox.command_path"


class CheckedGroup(TyperGroup):
    """The root command group: notes which leaf command the arguments name (in
    ``ctx.meta``) before its callback runs, since click hands the arguments on after."""

    def invoke(self, ctx: Any) -> Any:
        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        ctx.meta[PATH_KEY] = command_path(self, args)
        return super().invoke(ctx)


def command_path(root: Any, args: list[str]) -> str:
    """The leaf command ``args`` name under ``root`` (``"users create"``)."""
    command: Any = root
    words: list[str] = []
    for token in args:
        subs = getattr(command, "commands", None)
        if not subs or token not in subs:
            break
        words.append(token)
        command = subs[token]
    return " ".join(words)


def check(path: str, principal: Principal) -> None:
    """Raise ``PermissionDeniedError`` unless ``principal`` may run ``path``; an undeclared
    command is refused to every operator."""
    need = COMMAND_PERMISSIONS.get(path)
    if principal.permissions is None or need in (LOCAL, SELF):
        return
    if need is None or isinstance(need, str):
        raise PermissionDeniedError("undeclared", "operator")
    if not allows(principal.permissions, need[0], need[1]):
        raise PermissionDeniedError(f"{need[0]}:{need[1]}", "operator")
