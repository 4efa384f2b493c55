"""Adyen's settlement reports, downloaded as Adyen announces them.

Adyen has no API that lists or builds a day's settlement data: when a settlement batch
closes it generates the Settlement details report (``settlement_detail_report_batch_N.csv``)
and announces it with a ``REPORT_AVAILABLE`` notification whose ``pspReference`` is the file
name and ``reason`` its download URL. Those notifications arrive through the inbound webhook
endpoint (HMAC-verified, stored once); ``adyen_reports_once`` — run by the workers with the
nightly fetch — finds the announced settlement reports of the last days that no import of
the merchant's Adyen account holds yet, downloads each (outside any transaction; retried
with exponential back-off and jitter while Adyen is unavailable or the file is not there
yet), imports it under its file name and runs every day it covers. A download or import that
fails leaves a failed run for the notification's day naming the stage; the next pass tries
again, and a file imported once is never fetched again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tenacity import RetryError

from strongbox.connectors.base import ConnectorError
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.core.errors import StrongboxError
from strongbox.db.uow import Database
from strongbox.events.types import RequestContext
from strongbox.reconciliation import repository as repo
from strongbox.reconciliation import service as recon
from strongbox.reconciliation.formats import ADYEN_SETTLEMENT
from strongbox.reconciliation.tasks import ACTOR, FetchPolicy, record_failure, run_day_report
from strongbox.routing.service import RoutingService

log = logging.getLogger(__name__)

EVENT = "REPORT_AVAILABLE"
SETTLEMENT_REPORT_PREFIX = "settlement_detail_report"
LOOKBACK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Announced:
    merchant_id: str
    account_id: str
    filename: str
    url: str
    day: date  # the notification's day: a failed download is reported on it


def _day_of(payload: dict[str, Any], received: datetime) -> date:
    raw = payload.get("eventDate")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw).astimezone(UTC).date()
        except ValueError:
            pass
    return received.astimezone(UTC).date() if received.tzinfo else received.date()


def pending(db: Database, now: datetime) -> list[Announced]:
    """Announced settlement reports not yet imported for the Adyen account they belong to
    (the account whose ``merchant_account`` setting is the notification's)."""
    out: list[Announced] = []
    with db.read() as session:
        rows = repo.announced_reports(session, "adyen", EVENT, now - LOOKBACK)
        accounts: dict[str, list[Any]] = {}
        for merchant_id, payload, received in rows:
            name, url = payload.get("pspReference"), payload.get("reason")
            if not isinstance(name, str) or not name.startswith(SETTLEMENT_REPORT_PREFIX):
                continue  # other reports (payment accounting, disputes …) are not matched
            if payload.get("success") != "true" or not isinstance(url, str):
                continue
            if merchant_id not in accounts:
                accounts[merchant_id] = repo.merchant_accounts_of(session, merchant_id, "adyen")
            code = payload.get("merchantAccountCode")
            for acct in accounts[merchant_id]:
                if (acct.settings or {}).get("merchant_account") != code:
                    continue
                if repo.imported_filenames(session, merchant_id, acct.id, [name]):
                    continue
                day = _day_of(payload, received)
                out.append(Announced(merchant_id, acct.id, name, url, day))
    return list({(a.account_id, a.filename): a for a in out}.values())


def fetch_and_reconcile(
    db: Database,
    routing: RoutingService,
    connectors: ConnectorRegistry,
    item: Announced,
    policy: FetchPolicy,
) -> list[dict[str, Any]]:
    """Download, import and run the days of one announced report; the runs' reports."""
    ctx = RequestContext(merchant_id=item.merchant_id, actor=ACTOR)
    day = item.day.isoformat()
    with db.read() as session:
        account = repo.connector_account(session, item.merchant_id, item.account_id)
        if account is None:
            return []
        creds = routing.account_credentials(account)
    if "adyen" not in connectors.names():
        why = "the adyen connector is not configured"
        return [record_failure(db, ctx, item.account_id, day, "fetch", why)]
    connector: Any = connectors.get("adyen")
    try:
        text: str = policy.retrying()(connector.download_report, creds, item.url)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        why = f"gave up on {item.filename} after {policy.attempts} attempt(s): {last}"
        return [record_failure(db, ctx, item.account_id, day, "fetch", why)]
    except ConnectorError as exc:
        why = f"{item.filename}: {exc}"
        return [record_failure(db, ctx, item.account_id, day, "fetch", why)]
    try:
        with db.unit_of_work() as uow:
            imported = recon.import_report(
                uow, ctx, item.account_id, text, fmt=ADYEN_SETTLEMENT, filename=item.filename
            )
            first, last_day = imported.first_day, imported.last_day
            uow.commit()
    except StrongboxError as exc:
        why = f"{item.filename}: {exc.message}"
        return [record_failure(db, ctx, item.account_id, day, "import", why)]
    runs: list[dict[str, Any]] = []
    if first is None or last_day is None:
        return runs
    d, end = date.fromisoformat(first), date.fromisoformat(last_day)
    while d <= end:
        runs.append(run_day_report(db, ctx, item.account_id, d.isoformat()))
        d += timedelta(days=1)
    return runs


def adyen_reports_once(
    db: Database,
    routing: RoutingService,
    connectors: ConnectorRegistry,
    *,
    now: datetime,
    policy: FetchPolicy | None = None,
) -> int:
    """Every announced, not yet imported settlement report: how many were imported."""
    policy = policy or FetchPolicy()
    done = 0
    for item in pending(db, now):
        runs = fetch_and_reconcile(db, routing, connectors, item, policy)
        done += bool(runs) and all(r.get("failure") is None for r in runs)
    return done
