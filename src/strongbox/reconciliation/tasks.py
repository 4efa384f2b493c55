"""Background reconciliation: fetch a day of a gateway's settlement data, import, match.

``reconcile_from_gateway`` runs the three parts in turn, each in its own transaction and the
fetch outside any: **fetch** (the gateway's API, retried with exponential back-off and
jitter while the gateway is unavailable), **import** (the data stored as a report, in the
gateway's own format) and **match** (the day's run). A part that fails leaves a failed run
saying which part and why (``failure.stage``); a later pass tries again. Fetching the same
data twice imports nothing new and runs the day again.

``nightly_once`` does this for yesterday (UTC) for every enabled account of a connector with
an API (Stripe's balance transactions, Braintree's transaction search), once the configured
hour has passed and until the day has a completed run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from strongbox.connectors.base import ConnectorError, Credentials, RetryableError
from strongbox.connectors.registry import ConnectorRegistry
from strongbox.core.errors import StrongboxError
from strongbox.db.uow import Database
from strongbox.events.types import RequestContext
from strongbox.reconciliation import repository as repo
from strongbox.reconciliation import service as recon
from strongbox.reconciliation.formats import BRAINTREE_SEARCH, STRIPE_API
from strongbox.reconciliation.schemas import render_run
from strongbox.routing.service import RoutingService

log = logging.getLogger(__name__)

ACTOR = "system:reconciliation"

Fetch = Callable[[Any, Credentials, int, int], str]


def _stripe(connector: Any, creds: Credentials, since: int, until: int) -> str:
    objects = connector.balance_transactions(creds, since=since, until=until)
    return orjson.dumps({"object": "list", "data": objects}).decode()


def _braintree(connector: Any, creds: Credentials, since: int, until: int) -> str:
    text: str = connector.transaction_search_xml(creds, since=since, until=until)
    return text


#: Connectors whose settlement data Strongbox can fetch: how, and the format it comes in.
FETCHABLE: dict[str, tuple[Fetch, str]] = {
    "stripe": (_stripe, STRIPE_API),
    "braintree": (_braintree, BRAINTREE_SEARCH),
}


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    attempts: int = 6
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0

    def retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(
                multiplier=self.backoff_seconds, max=self.max_backoff_seconds
            ),
            retry=retry_if_exception_type(RetryableError),
            reraise=False,
        )


def record_failure(
    db: Database, ctx: RequestContext, account: str, day: str, stage: str, why: str
) -> dict[str, Any]:
    log.warning("reconciliation of %s on %s failed at %s: %s", account, day, stage, why)
    with db.unit_of_work() as uow:
        run = recon.record_failed_run(uow, ctx, account, day, stage, why)
        body = render_run(run, repo.count_open(uow.session, ctx.merchant_id, account, day))
        uow.commit()
    return body


def reconcile_from_gateway(
    db: Database,
    routing: RoutingService,
    connectors: ConnectorRegistry,
    merchant_id: str,
    account_id: str,
    day: date,
    *,
    policy: FetchPolicy | None = None,
) -> dict[str, Any]:
    """The day's run report (``render_run``): completed, or failed with its stage."""
    policy = policy or FetchPolicy()
    ctx = RequestContext(merchant_id=merchant_id, actor=ACTOR)
    text_day = day.isoformat()
    with db.read() as session:
        account = repo.connector_account(session, merchant_id, account_id)
        if account is None:
            raise KeyError(account_id)
        name = str(account.connector)
        creds = routing.account_credentials(account)
    how = FETCHABLE.get(name)
    if how is None or name not in connectors.names():
        why = f"the {name} connector has no settlement API; import its reports instead"
        return record_failure(db, ctx, account_id, text_day, "fetch", why)
    fetch, fmt = how
    source = connectors.get(name)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    since, until = int(start.timestamp()), int((start + timedelta(days=1)).timestamp())
    try:
        text = policy.retrying()(fetch, source, creds, since, until)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        why = f"gave up after {policy.attempts} attempt(s): {last}"
        return record_failure(db, ctx, account_id, text_day, "fetch", why)
    except ConnectorError as exc:
        return record_failure(db, ctx, account_id, text_day, "fetch", str(exc))
    try:
        with db.unit_of_work() as uow:
            recon.import_report(uow, ctx, account_id, text, fmt=fmt, filename=f"{name}-{text_day}")
            uow.commit()
    except StrongboxError as exc:
        if exc.code != "report_already_imported":
            return record_failure(db, ctx, account_id, text_day, "import", exc.message)
    return run_day_report(db, ctx, account_id, text_day)


def run_day_report(db: Database, ctx: RequestContext, account_id: str, day: str) -> dict[str, Any]:
    """Match one day of the account in its own transaction: the run's report, or a failed
    run at the ``match`` stage."""
    try:
        with db.unit_of_work() as uow:
            out = recon.run_day(uow, ctx, account_id, day)
            n = repo.count_open(uow.session, ctx.merchant_id, account_id, day)
            body = render_run(out.run, n)
            uow.commit()
    except StrongboxError as exc:
        return record_failure(db, ctx, account_id, day, "match", exc.message)
    return body


def nightly_once(
    db: Database,
    routing: RoutingService,
    connectors: ConnectorRegistry,
    *,
    now: datetime,
    after_hour: int,
    policy: FetchPolicy | None = None,
) -> int:
    """Yesterday, for every fetchable account without a completed run of it; the count."""
    if now.hour < after_hour:
        return 0
    yesterday = (now - timedelta(days=1)).date()
    done = 0
    with db.read() as session:
        targets = [
            (m, a)
            for connector in FETCHABLE
            for m, a in repo.accounts_of_connector(session, connector)
            if not repo.has_completed_run(session, m, a, yesterday.isoformat())
        ]
    for merchant_id, account_id in targets:
        body = reconcile_from_gateway(
            db, routing, connectors, merchant_id, account_id, yesterday, policy=policy
        )
        done += body["status"] == "completed"
    return done
