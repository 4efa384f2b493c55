"""``strongbox users …`` and ``strongbox access …``, and the permission check every command
goes through (``cli/permissions.py``)."""

from __future__ import annotations

import json
from typing import Any

import typer
from typer.testing import CliRunner

from strongbox.cli.main import app
from strongbox.cli.permissions import COMMAND_PERMISSIONS
from strongbox.core.settings import Settings
from strongbox.runtime import Runtime
from support import Merchant

PASSWORD = "correct horse battery staple 42"  # pragma: allowlist secret
REASON = "on call: INC-7 needs the team list"


def _env(settings: Settings) -> dict[str, str | None]:
    return {
        "STRONGBOX_DATA_DIR": str(settings.data_dir),
        "STRONGBOX_DATABASE_URL": settings.database_url,
        "STRONGBOX_SIMULATOR_URL": None,
        "STRONGBOX_RUN_WORKERS": "false",
        "STRONGBOX_OPERATOR": None,
        "COLUMNS": "250",
    }


def _leaves(command: Any, path: list[str]) -> list[str]:
    subs = getattr(command, "commands", None)
    if not subs:
        return [" ".join(path)]
    return [leaf for name, sub in subs.items() for leaf in _leaves(sub, [*path, name])]


def test_every_command_declares_its_permission() -> None:
    leaves = _leaves(typer.main.get_command(app), [])
    assert len(leaves) >= 40
    assert sorted(set(leaves) - set(COMMAND_PERMISSIONS)) == []


def test_users_and_access(settings: Settings, runtime: Runtime, merchant: Merchant) -> None:
    runner = CliRunner()
    env = _env(settings)

    def run(*args: str, code: int = 0, stdin: str | None = None) -> str:
        r = runner.invoke(app, list(args), env=env, input=stdin)
        assert r.exit_code == code, r.output + repr(r.exception)
        return r.output

    made = json.loads(run("users", "create", "boss@example.com", "--role", "owner",
                          "--password-stdin", stdin=PASSWORD + "\n"))  # fmt: skip
    assert made["status"] == "active"
    assert made["role"] == "owner"
    assert PASSWORD not in json.dumps(made)
    run("users", "create", "weak@example.com", "--role", "support", "--password-stdin",
        stdin="password1234\n", code=2)  # fmt: skip
    run("users", "create", "x@example.com", "--role", "root", "--password-stdin",
        stdin=PASSWORD + "\n", code=2)  # fmt: skip
    invited = json.loads(run("users", "invite", "sup@example.com", "--role", "support"))
    assert invited["status"] == "invited"
    assert len(invited["invitation_token"]) >= 40
    listed = [json.loads(line) for line in run("users", "list").splitlines()]
    assert {o["email"] for o in listed} == {"boss@example.com", "sup@example.com"}

    # the invited operator may not manage the team: 3 = permission denied
    run("users", "create", "sup@example.com", "--role", "owner", "--password-stdin",
        stdin=PASSWORD + "\n", code=2)  # exists  # fmt: skip
    with runtime.db.unit_of_work() as uow:
        from strongbox.auth import operators
        from strongbox.core.secret import Secret

        operators.accept_invitation(uow, Secret(invited["invitation_token"]),
                                    Secret(PASSWORD), None)  # fmt: skip
        uow.commit()
    denied = runner.invoke(app, ["--as", "sup@example.com", "users", "list"], env=env)
    assert denied.exit_code == 3
    assert "operators:read" in denied.output
    asked = json.loads(run("--as", "sup@example.com", "access", "request", "--role",
                           "administrator", "--reason", REASON, "--minutes", "30"))  # fmt: skip
    run("--as", "sup@example.com", "access", "approve", asked["id"], code=3)
    approved = json.loads(run("--as", "boss@example.com", "access", "approve", asked["id"]))
    assert approved["status"] == "active"
    assert len(run("--as", "sup@example.com", "users", "list").splitlines()) == 2
    revoked = json.loads(run("access", "revoke", asked["id"]))
    assert revoked["status"] == "revoked"
    run("--as", "sup@example.com", "users", "list", code=3)
    assert len(run("access", "list").splitlines()) == 1
    run("--as", "nobody@example.com", "users", "list", code=3)

    sup_id = next(o["id"] for o in listed if o["email"] == "sup@example.com")
    assert json.loads(run("users", "set-role", "sup@example.com", "--role", "analyst"))[
        "role"] == "analyst"  # fmt: skip
    assert json.loads(run("users", "reset-2fa", "sup@example.com"))["two_factor"]["totp"] is False
    assert json.loads(run("users", "disable", "sup@example.com"))["status"] == "disabled"
    run("--as", "sup@example.com", "users", "list", code=3)
    assert sup_id.startswith("op_")
