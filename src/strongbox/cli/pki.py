"""``strongbox pki init|issue|revoke|list``: the private CA for mutual TLS between services.

Every change is recorded in the audit log (installation-wide entries, no merchant).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from strongbox.cli.common import command_runtime

pki_app = typer.Typer(
    help="The installation's private CA: service certificates for mutual TLS.",
    no_args_is_help=True,
)


def _pki(rt: Any) -> Any:
    from strongbox.auth.pki.ca import Pki

    return Pki(rt.settings.resolved_pki_dir, rt.sealer)


def _audited(rt: Any, action: str, resource_id: str, after: dict[str, Any]) -> None:
    from strongbox.audit import service as audit

    with rt.db.unit_of_work() as uow:
        audit.record(
            uow, action=action, actor="cli", resource_type="pki", resource_id=resource_id,
            after=after,
        )  # fmt: skip
        uow.commit()


def _fail(exc: Exception, hint: str) -> typer.BadParameter:
    return typer.BadParameter(str(exc), param_hint=hint)


@pki_app.command("init")
def init(
    host: Annotated[
        list[str] | None,
        typer.Option(
            help="A name or address of the internal listener (repeat) [default: "
            "localhost, 127.0.0.1]."
        ),
    ] = None,
) -> None:
    """Make the CA, its revocation list and the internal listener's certificate."""
    from strongbox.auth.pki.ca import PkiError

    with command_runtime() as rt:
        pki = _pki(rt)
        try:
            pki.init(rt.db.clock.now(), hosts=host or ["localhost", "127.0.0.1"])
        except PkiError as exc:
            raise _fail(exc, "--host") from None
        _audited(rt, "strongbox.pki.ca_created", str(pki.dir), {"dir": str(pki.dir)})
        typer.echo(json.dumps({"ca": str(pki.ca_cert_path), "crl": str(pki.crl_path)}))


@pki_app.command("issue")
def issue(
    name: Annotated[str, typer.Argument(help="The service name (the certificate's CN).")],
    permission: Annotated[
        list[str] | None, typer.Option(help="A permission it has, e.g. audit:read (repeat).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=825, help="Validity in days.")] = 90,
    server_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Issue a server certificate for this name or address (repeat), e.g. "
            "for a split simulator."
        ),
    ] = None,
) -> None:
    """Issue a client certificate for a service (or a server certificate with
    --server-host); prints where its files are."""
    from strongbox.auth.pki.ca import PkiError

    with command_runtime() as rt:
        pki = _pki(rt)
        try:
            ident = pki.issue(
                name, permission or [], rt.db.clock.now(), days=days, server_hosts=server_host
            )
        except PkiError as exc:
            raise _fail(exc, "NAME") from None
        out = {
            "name": ident.name,
            "serial": format(ident.serial, "x"),
            "permissions": sorted(ident.permissions),
            "not_after": ident.not_after.isoformat(),
            "certificate": str(pki.cert_path(name)),
            "key": str(pki.key_path(name)),
        }
        _audited(rt, "strongbox.pki.certificate_issued", out["serial"], out)
        typer.echo(json.dumps(out))


@pki_app.command("revoke")
def revoke(
    name_or_serial: Annotated[str, typer.Argument(help="A service name or a serial (hex).")],
) -> None:
    """Revoke a service's certificates; the internal listener refuses them at once."""
    from strongbox.auth.pki.ca import PkiError

    with command_runtime() as rt:
        try:
            done = _pki(rt).revoke(name_or_serial, rt.db.clock.now())
        except PkiError as exc:
            raise _fail(exc, "NAME_OR_SERIAL") from None
        serials = [format(i.serial, "x") for i in done]
        _audited(rt, "strongbox.pki.certificate_revoked", ",".join(serials), {"serials": serials})
        typer.echo(json.dumps({"revoked": serials}))


@pki_app.command("list")
def list_() -> None:
    """Print every issued certificate as JSON lines."""
    from strongbox.auth.pki.ca import PkiError

    with command_runtime() as rt:
        try:
            found = _pki(rt).identities()
        except PkiError as exc:
            raise _fail(exc, "STRONGBOX_PKI_DIR") from None
        for i in found:
            typer.echo(
                json.dumps(
                    {
                        "name": i.name,
                        "serial": format(i.serial, "x"),
                        "permissions": sorted(i.permissions),
                        "not_after": i.not_after.isoformat(),
                        "revoked": i.revoked,
                    }
                )
            )
