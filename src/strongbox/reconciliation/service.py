"""Reconciliation: import a gateway's report, match a day, resolve what does not match.

Every write happens in the caller's unit of work with its events (audit leaf, outbox): an
import (``reconciliation.report_import.created``), a run (``reconciliation.run.completed``
or ``.failed``), each new exception (``reconciliation.exception.created``), each exception
a later run no longer finds (``reconciliation.exception.cleared``) and each resolution
(``reconciliation.exception.resolved``). A resolution that moves money carries its
adjustment in the event; the ledger's posting rules (``ledger/adjustments.py``) post it in
the same transaction, so the resolution and its transfer commit together or not at all.
Rows are never edited to make figures agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from strongbox.core.clock import to_unix
from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.ledger.transfers import MAX_AMOUNT, RESERVED_PREFIX
from strongbox.reconciliation import formats
from strongbox.reconciliation import repository as repo
from strongbox.reconciliation.matching import DEFAULT_WINDOW, Result, match, summarize
from strongbox.reconciliation.models import (
    AMOUNT_MISMATCH,
    DUPLICATE,
    FEE_MISMATCH,
    MATCHED,
    MISSING_AT_GATEWAY,
    MISSING_IN_STRONGBOX,
    ReconException,
    ReconRun,
    ReportImport,
)
from strongbox.reconciliation.schemas import render_exception, render_import, render_run

ACCEPT: Final = "accept_gateway"
TIMING: Final = "timing"
WRITE_OFF: Final = "write_off"
ACTIONS: Final = (ACCEPT, TIMING, WRITE_OFF)
PAIRED: Final = (MATCHED, AMOUNT_MISMATCH, FEE_MISMATCH)
MAX_WINDOW_DAYS: Final = 7


def parse_day(value: str, param: str = "date") -> date:
    try:
        if len(value) != 10:
            raise ValueError
        day = date.fromisoformat(value)
        if not 1971 <= day.year <= 9998:  # a run's window must stay within datetime's range
            raise ValueError
        return day
    except ValueError:
        raise InvalidRequestError(
            f"Invalid {param}: expected a date as YYYY-MM-DD.",
            code="parameter_invalid",
            param=param,
        ) from None


def _account(uow: UnitOfWork, merchant_id: str, account_id: str, param: str) -> Any:
    acct = repo.connector_account(uow.session, merchant_id, account_id)
    if acct is None:
        raise ResourceMissingError(f"No such connector account: '{account_id}'", param=param)
    return acct


# ------------------------------------------------------------------ import


def import_report(
    uow: UnitOfWork,
    ctx: RequestContext,
    account_id: str,
    text: str,
    *,
    fmt: str | None = None,
    filename: str | None = None,
) -> ReportImport:
    """Store a report's payment and refund lines for the account. The same file twice is
    refused; lines an earlier import of the account holds (same gateway line id) are counted
    as ``already_imported`` and not stored again."""
    _account(uow, ctx.merchant_id, account_id, "connector_account")
    # Imports of one account one at a time: the same file twice concurrently is refused
    # cleanly, not by a unique violation.
    repo.serialize(uow.session, uow.dialect, "recon-import", ctx.merchant_id, account_id)
    digest = hashlib.sha256(text.encode()).hexdigest()
    earlier = repo.import_by_digest(uow.session, ctx.merchant_id, account_id, digest)
    if earlier is not None:
        raise InvalidRequestError(
            f"This report was already imported for this account as {earlier.id}.",
            code="report_already_imported",
            param="report",
        )
    parsed = formats.parse(text, fmt)
    ids = list({ln.line_id for ln in parsed.lines if ln.line_id})
    known = repo.known_line_ids(uow.session, ctx.merchant_id, account_id, ids)
    record = ReportImport(
        id=new_id("report_import"),
        merchant_id=ctx.merchant_id,
        connector_account_id=account_id,
        format=parsed.format,
        filename=(filename or None) and filename[:255],
        sha256=digest,
        lines=0,
        skipped=parsed.skipped,
        already_imported=0,
        first_day=None,
        last_day=None,
        created=uow.clock.now(),
    )
    rows: list[dict[str, Any]] = []
    for ln in parsed.lines:
        if ln.line_id and ln.line_id in known:
            record.already_imported += 1
            continue
        rows.append(
            {
                "merchant_id": ctx.merchant_id,
                "connector_account_id": account_id,
                "import_id": record.id,
                "line_no": ln.line_no,
                "day": ln.day,
                "occurred": ln.occurred,
                "kind": ln.kind,
                "line_id": ln.line_id,
                "refs": [r[:128] for r in ln.refs],
                "amount": ln.amount,
                "fee": ln.fee,
                "currency": ln.currency,
                "description": ln.description,
            }
        )
    record.lines = len(rows)
    if rows:
        days = sorted({r["day"] for r in rows})
        record.first_day, record.last_day = days[0], days[-1]
    uow.session.add(record)
    uow.flush()
    repo.insert_lines(uow.session, rows)
    raise_event(
        uow,
        ctx,
        "reconciliation.report_import.created",
        "reconciliation.report_import",
        record.id,
        render_import(record),
    )
    return record


# ------------------------------------------------------------------ runs


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run: ReconRun
    results: list[Result]


def _fingerprint(r: Result) -> str:
    obj = r.item.object_id if r.item is not None else ""
    return f"{r.outcome}|{r.line_key or ''}|{obj}"[:255]


def run_day(
    uow: UnitOfWork,
    ctx: RequestContext,
    account_id: str,
    day_text: str,
    *,
    window: timedelta = DEFAULT_WINDOW,
) -> RunOutcome:
    """Match the account's report lines of one day (UTC) with what Strongbox recorded."""
    day = parse_day(day_text).isoformat()
    _account(uow, ctx.merchant_id, account_id, "connector_account")
    session = uow.session
    # Runs of one account's day one at a time: a concurrent run waits, then supersedes.
    repo.serialize(session, uow.dialect, "recon-run", ctx.merchant_id, account_id, day)
    lines = repo.lines_of_day(session, ctx.merchant_id, account_id, day)
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    since, until = start - window, start + timedelta(days=1) + window
    # What was recorded in the window first; then, by reference, only what the lines name
    # that the window did not hold (late lines): a few lookups, not one per line.
    items = repo.recorded_items(session, ctx.merchant_id, account_id, since=since, until=until)
    known = {i.object_id for i in items} | {i.reference for i in items if i.reference}
    refs = sorted({r for _k, ln in lines if not any(r in known for r in ln.refs) for r in ln.refs})
    if refs:
        seen = {i.object_id for i in items}
        late = repo.recorded_items(
            session, ctx.merchant_id, account_id, since=since, until=until, refs=refs, window=False
        )
        items.extend(i for i in late if i.object_id not in seen)
    elsewhere = repo.paired_elsewhere(
        session, ctx.merchant_id, account_id, day, [i.object_id for i in items]
    )
    items = [i for i in items if i.object_id not in elsewhere]
    results = match(lines, items, day, window=window)
    now = uow.clock.now()
    repo.supersede_runs(session, ctx.merchant_id, account_id, day)
    run = ReconRun(
        id=new_id("reconciliation_run"),
        merchant_id=ctx.merchant_id,
        connector_account_id=account_id,
        day=day,
        status="completed",
        failure=None,
        summary=summarize(results),
        superseded=False,
        created=now,
    )
    session.add(run)
    uow.flush()
    repo.insert_matches(
        session,
        [
            {
                "merchant_id": ctx.merchant_id,
                "connector_account_id": account_id,
                "run_id": run.id,
                "object_id": r.item.object_id,
                "line_key": (r.line_key or "")[:80],
                "outcome": r.outcome,
            }
            for r in results
            if r.outcome in PAIRED and r.item is not None
        ],
    )
    _record_exceptions(uow, ctx, run, results)
    raise_event(
        uow,
        ctx,
        "reconciliation.run.completed",
        "reconciliation.run",
        run.id,
        render_run(run, repo.count_open(session, ctx.merchant_id, account_id, day)),
    )
    return RunOutcome(run, results)


def _record_exceptions(
    uow: UnitOfWork, ctx: RequestContext, run: ReconRun, results: list[Result]
) -> None:
    session = uow.session
    now = uow.clock.now()
    found = {_fingerprint(r): r for r in results if r.outcome != MATCHED}
    existing = repo.exceptions_by_fingerprint(
        session, ctx.merchant_id, run.connector_account_id, list(found)
    )
    for fp, r in found.items():
        old = existing.get(fp)
        if old is not None:
            old.run_id = run.id  # the same discrepancy: keep its status and resolution
            continue
        line, item = r.line, r.item
        exc = ReconException(
            id=new_id("reconciliation_exception"),
            merchant_id=ctx.merchant_id,
            connector_account_id=run.connector_account_id,
            fingerprint=fp,
            day=run.day,
            outcome=r.outcome,
            status="open",
            run_id=run.id,
            object_id=item.object_id if item else None,
            line_key=(r.line_key or None) and (r.line_key or "")[:80],
            gateway_line_id=line.line_id if line else None,
            reference=(item.reference if item and item.reference else None)
            or (line.refs[0][:128] if line and line.refs else None),
            currency=item.currency if item else line.currency if line else "xxx",
            gateway_currency=line.currency if line else None,
            strongbox_amount=item.amount if item else None,
            gateway_amount=line.amount if line else None,
            strongbox_fee=item.fee if item else None,
            gateway_fee=line.fee if line else None,
            resolution=None,
            created=now,
            updated=now,
        )
        session.add(exc)
        uow.flush()
        raise_event(
            uow,
            ctx,
            "reconciliation.exception.created",
            "reconciliation.exception",
            exc.id,
            render_exception(exc),
        )
    for old in repo.open_exceptions_of_day(
        session, ctx.merchant_id, run.connector_account_id, run.day
    ):
        if old.fingerprint in found:
            continue
        # A later run no longer finds it (a late report line, a late capture): cleared.
        old.status = "cleared"
        old.run_id = run.id
        old.updated = now
        old.resolution = {"action": "cleared", "run": run.id}
        raise_event(
            uow,
            ctx,
            "reconciliation.exception.cleared",
            "reconciliation.exception",
            old.id,
            render_exception(old),
            previous={"status": "open"},
        )
    uow.flush()


def record_failed_run(
    uow: UnitOfWork,
    ctx: RequestContext,
    account_id: str,
    day_text: str,
    stage: str,
    message: str,
) -> ReconRun:
    """A run that could not complete, saying which part failed (fetch, import, match)."""
    day = parse_day(day_text).isoformat()
    run = ReconRun(
        id=new_id("reconciliation_run"),
        merchant_id=ctx.merchant_id,
        connector_account_id=account_id,
        day=day,
        status="failed",
        failure={"stage": stage, "message": message[:500]},
        summary={},
        superseded=False,
        created=uow.clock.now(),
    )
    uow.session.add(run)
    uow.flush()
    raise_event(
        uow,
        ctx,
        "reconciliation.run.failed",
        "reconciliation.run",
        run.id,
        render_run(run, repo.count_open(uow.session, ctx.merchant_id, account_id, day)),
    )
    return run


def get_run(uow: UnitOfWork, merchant_id: str, run_id: str) -> ReconRun:
    run = repo.get_run(uow.session, merchant_id, run_id)
    if run is None:
        raise ResourceMissingError(f"No such reconciliation run: '{run_id}'", param="id")
    return run


# ------------------------------------------------------------------ exceptions


def get_exception(uow: UnitOfWork, merchant_id: str, exc_id: str) -> ReconException:
    exc = repo.get_exception(uow.session, merchant_id, exc_id)
    if exc is None:
        raise ResourceMissingError(f"No such reconciliation exception: '{exc_id}'", param="id")
    return exc


def _delta(exc: ReconException) -> tuple[str, int]:
    """What accepting the gateway's figure changes: (``amount`` | ``fee``, gateway - ours)."""
    gateway, ours = exc.gateway_amount or 0, exc.strongbox_amount or 0
    if exc.outcome == FEE_MISMATCH:
        return "fee", (exc.gateway_fee or 0) - (exc.strongbox_fee or 0)
    if exc.outcome == AMOUNT_MISMATCH:
        return "amount", gateway - ours
    if exc.outcome in (MISSING_IN_STRONGBOX, DUPLICATE):
        return "amount", gateway
    assert exc.outcome == MISSING_AT_GATEWAY
    return "amount", -ours


def resolve_exception(
    uow: UnitOfWork, ctx: RequestContext, exc_id: str, action: str, note: str | None = None
) -> ReconException:
    """Resolve an open exception once: ``accept_gateway`` posts the difference to the
    reconciliation account, ``write_off`` to the write-offs account, ``timing`` moves no
    money (the figures will meet in a later period)."""
    if action not in ACTIONS:
        raise InvalidRequestError(
            f"Invalid action: must be one of {', '.join(ACTIONS)}.",
            code="parameter_invalid",
            param="action",
        )
    exc = repo.lock_exception(uow.session, uow.dialect, ctx.merchant_id, exc_id)
    if exc is None:
        raise ResourceMissingError(f"No such reconciliation exception: '{exc_id}'", param="id")
    if exc.status != "open":
        raise InvalidRequestError(
            f"This exception is {exc.status}; only an open exception can be resolved.",
            code="exception_not_open",
            param="id",
        )
    adjustment: dict[str, Any] | None = None
    resolution: dict[str, Any] = {
        "action": action,
        "note": note,
        "actor": ctx.actor,
        "resolved_at": to_unix(uow.clock.now()),
        "ledger_transfer": None,
        "amount": 0,
        "currency": exc.currency,
    }
    if action != TIMING:
        if exc.gateway_currency is not None and exc.gateway_currency != exc.currency:
            raise InvalidRequestError(
                "The gateway reported this payment in another currency; resolve it as "
                "timing and correct it by hand.",
                code="currency_mismatch",
                param="action",
            )
        target, delta = _delta(exc)
        if abs(delta) > MAX_AMOUNT:
            raise InvalidRequestError(
                "The difference is larger than the ledger's largest transfer.",
                code="amount_too_large",
                param="action",
            )
        if delta != 0:
            transfer_id = f"{RESERVED_PREFIX}{exc.id}.resolution"
            adjustment = {
                "transfer_id": transfer_id,
                "target": target,
                "amount": delta,
                "currency": exc.currency,
                "counter": "write_off" if action == WRITE_OFF else "accept",
                "source": exc.object_id or exc.id,
            }
            resolution.update(ledger_transfer=transfer_id, amount=delta, target=target)
    exc.status = "resolved"
    exc.resolution = resolution
    exc.updated = uow.clock.now()
    raise_event(
        uow,
        ctx,
        "reconciliation.exception.resolved",
        "reconciliation.exception",
        exc.id,
        render_exception(exc),
        previous={"status": "open", "resolution": None},
        extra={"adjustment": adjustment} if adjustment else None,
    )
    return exc
