"""``strongbox ledger …``: verify the ledger, set fees, expire pending transfers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from strongbox.cli.common import command_runtime, merchant_unit_of_work
from strongbox.core.errors import StrongboxError
from strongbox.core.money import parse_currency
from strongbox.ledger.fees import ANY_CURRENCY
from strongbox.ledger.verify import (
    PaymentFacts,
    RefundFacts,
    Report,
    verify_ledger,
    verify_postings,
)
from strongbox.payments.repository import every_intent_with_refunds
from strongbox.runtime import Runtime

ledger_app = typer.Typer(help="Double-entry ledger commands.", no_args_is_help=True)


def payment_facts(session: Session) -> Iterator[PaymentFacts]:
    """What the ledger must show for each payment (read from the payments tables)."""
    for pi, refunds in every_intent_with_refunds(session):
        yield PaymentFacts(
            merchant_id=pi.merchant_id,
            id=pi.id,
            status=pi.status,
            amount_received=pi.amount_received,
            amount_capturable=pi.amount_capturable,
            refunds=tuple(RefundFacts(r.id, r.status, r.amount) for r in refunds),
        )


def run_verify(rt: Runtime) -> Report:
    """Every check of ``strongbox ledger verify``, in one read-only transaction."""
    with rt.db.read() as session:
        report = verify_ledger(session)
        verify_postings(session, payment_facts(session), report)
    return report


@ledger_app.command("verify")
def verify() -> None:
    """Recompute every balance from the transfers and check every invariant; exit 1 if wrong."""
    with command_runtime() as rt:
        report = run_verify(rt)
    for problem in report.problems:
        typer.echo(str(problem), err=True)
    summary = (
        f"{report.accounts} accounts, {report.transfers} transfers, {report.payments} payments: "
    )
    if report.ok:
        typer.echo(summary + "ledger OK")
        return
    typer.echo(summary + f"{len(report.problems)} problem(s)", err=True)
    raise typer.Exit(1)


@ledger_app.command("set-fee")
def set_fee(
    merchant_id: Annotated[str, typer.Argument(help="The merchant (acct_…).")],
    percent_bps: Annotated[int, typer.Option("--bps", min=0, max=10_000, help="Basis points.")],
    fixed: Annotated[int, typer.Option(min=0, max=99_999_999, help="Fixed minor units.")] = 0,
    currency: Annotated[str, typer.Option(help="A currency, or * for all others.")] = "*",
) -> None:
    """Set a merchant's processing fee (percentage plus fixed amount) for a currency."""
    try:
        cur = ANY_CURRENCY if currency == ANY_CURRENCY else parse_currency(currency).code.lower()
    except StrongboxError as exc:
        raise typer.BadParameter(exc.message, param_hint="--currency") from None

    def run(rt: Runtime, uow: Any, ctx: Any) -> dict[str, Any]:
        row = rt.fees.set_schedule(uow, merchant_id, cur, percent_bps, fixed)
        return {"currency": row.currency, "percent_bps": row.percent_bps, "fixed": fixed}

    merchant_unit_of_work(merchant_id, run, param_hint="MERCHANT_ID")


@ledger_app.command("expire")
def expire() -> None:
    """Void every pending transfer whose timeout has passed (the worker does this too)."""
    total = 0
    with command_runtime() as rt:
        while True:
            with rt.db.unit_of_work() as uow:
                n = rt.ledger.expire_due(uow)
                uow.commit()
            total += n
            if n == 0:
                break
    typer.echo(f"expired {total} pending transfer(s)")
