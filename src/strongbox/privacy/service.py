"""Data subject requests: create (and, for erasure, run the workflow), retrieve, list, export.

Each request has its legal deadline (one month after receipt, Art. 12(3)) and a status, and
raises internal events (``strongbox.privacy.*``) that the audit log records: the request
itself, each export handed out and each erasure. Events carry ids and counts, never the
subject's personal values. Callers pass a unit of work; nothing here commits.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any, Final

from strongbox.audit.heads import Signer
from strongbox.core.clock import to_unix
from strongbox.core.errors import InvalidRequestError, ParameterMissingError, ResourceMissingError
from strongbox.core.ids import new_id
from strongbox.db.pagination import Page, PageRequest
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event
from strongbox.privacy import repository as repo
from strongbox.privacy.erasure import erase
from strongbox.privacy.export import build_bundle, render_html
from strongbox.privacy.journal import ErasureJournal, JournalEntry
from strongbox.privacy.locate import Found, SubjectQuery, complete, locate, normalize_email
from strongbox.privacy.models import COMPLETED, ERASURE, REQUEST_TYPES, PrivacyRequest
from strongbox.vault.service import VaultService

MAX_EMAIL: Final = 512


def add_month(value: datetime) -> datetime:
    """The same day one month later (clamped to the month's last day), Art. 12(3)."""
    year, month = (value.year + 1, 1) if value.month == 12 else (value.year, value.month + 1)
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def render_request(r: PrivacyRequest, livemode: bool = False) -> dict[str, Any]:
    return {
        "id": r.id,
        "object": "privacy_request",
        "type": r.type,
        "status": r.status,
        "customer": r.customer_id,
        "email_provided": r.email_index is not None,
        "created": to_unix(r.created),
        "due_at": to_unix(r.due_at),
        "completed_at": to_unix(r.completed_at) if r.completed_at is not None else None,
        "found": {k: len(v) for k, v in (r.subject_ids or {}).items()},
        "steps": r.steps or [],
        "certificate": r.certificate,
        "livemode": livemode,
    }


def _event(uow: UnitOfWork, ctx: RequestContext, type_: str, r: PrivacyRequest) -> None:
    obj = render_request(r, ctx.livemode)
    raise_event(uow, ctx, type_, "privacy_request", r.id, obj)


def _query(customer: str | None, email: str | None) -> SubjectQuery:
    if not customer and not email:
        raise ParameterMissingError(
            "Name the data subject with customer (a customer id) or email.", param="customer"
        )
    if email is not None:
        email = normalize_email(email)
        if len(email) > MAX_EMAIL or "@" not in email or email.startswith("@"):
            raise InvalidRequestError("Invalid email address.", param="email", code="email_invalid")
    return SubjectQuery(customer_id=customer or None, email=email or None)


def create_request(
    uow: UnitOfWork,
    ctx: RequestContext,
    vault: VaultService,
    signer: Signer,
    *,
    type_: str,
    customer: str | None,
    email: str | None,
    journal: ErasureJournal | None = None,
) -> PrivacyRequest:
    """Record a request, find the subject, and for an erasure run the workflow, in one unit
    of work (a failed verification rolls everything back)."""
    if type_ not in REQUEST_TYPES:
        raise InvalidRequestError(
            f"Invalid type: must be one of {', '.join(REQUEST_TYPES)}.",
            param="type",
            code="parameter_invalid",
        )
    query = _query(customer, email)
    session = uow.session
    if query.customer_id and not repo.customers_by_ids(
        session, ctx.merchant_id, [query.customer_id]
    ):
        raise ResourceMissingError(f"No such customer: '{query.customer_id}'", param="customer")
    email_index = (
        vault.blind_index(session, ctx.merchant_id, "email", query.email) if query.email else None
    )
    found = locate(session, ctx.merchant_id, query, email_index)
    now = uow.clock.now()
    req = PrivacyRequest(
        id=new_id("privacy_request"),
        merchant_id=ctx.merchant_id,
        type=type_,
        status="processing",
        customer_id=query.customer_id,
        email_index=email_index,
        subject_ids=found.ids(),
        steps=[{"step": "received", "at": to_unix(now)}],
        certificate=None,
        created=now,
        due_at=add_month(now),
        completed_at=None,
    )
    session.add(req)
    uow.flush()
    _event(uow, ctx, "strongbox.privacy.request_created", req)
    if type_ == ERASURE:
        done = erase(
            uow,
            ctx,
            vault,
            signer,
            request_id=req.id,
            query=query,
            email_index=email_index,
            found=found,
        )
        req.steps = [*req.steps, *done.steps]
        req.certificate = done.certificate
        if journal is not None:
            # Before the commit: an entry whose transaction then fails only erases again,
            # on a later start, a subject whose erasure was asked for.
            journal.append(JournalEntry(req.id, ctx.merchant_id, req.subject_ids, to_unix(now)))
    else:
        req.steps = [
            *req.steps,
            {"step": "find", "at": to_unix(now), "counts": found.counts()},
            {"step": "export_ready", "at": to_unix(uow.clock.now())},
        ]
    req.status = COMPLETED
    req.completed_at = uow.clock.now()
    uow.flush()
    _event(uow, ctx, f"strongbox.privacy.{type_}_completed", req)
    return req


def get_request(uow: UnitOfWork, ctx: RequestContext, request_id: str) -> PrivacyRequest:
    row = repo.get_request(uow.session, ctx.merchant_id, request_id)
    if row is None:
        raise ResourceMissingError(f"No such privacy request: '{request_id}'", param="id")
    return row


def list_requests(uow: UnitOfWork, ctx: RequestContext, page: PageRequest) -> Page[PrivacyRequest]:
    return repo.list_requests(uow.session, ctx.merchant_id, page)


def _reload(uow: UnitOfWork, merchant_id: str, ids: dict[str, Any]) -> Found:
    found = Found()
    for name in found.ids():
        setattr(found, name, repo.rows_by_ids(uow.session, name, merchant_id, ids.get(name, [])))
    return found


def export(
    uow: UnitOfWork, ctx: RequestContext, request_id: str, fmt: str
) -> tuple[dict[str, Any], str | None]:
    """The bundle (and its HTML summary for ``fmt == "html"``) of an access or portability
    request; audited as ``strongbox.privacy.export_downloaded``."""
    req = get_request(uow, ctx, request_id)
    if req.type == ERASURE:
        raise InvalidRequestError(
            "An erasure request has no export; its certificate is on the request.",
            param="id",
            code="privacy_request_no_export",
        )
    if fmt not in ("json", "html"):
        raise InvalidRequestError(
            "Invalid format: must be json or html.", param="format", code="parameter_invalid"
        )
    found = _reload(uow, ctx.merchant_id, req.subject_ids or {})
    bundle = build_bundle(
        found, request_id=req.id, merchant_id=ctx.merchant_id, generated=uow.clock.now()
    )
    raise_event(
        uow,
        ctx,
        "strongbox.privacy.export_downloaded",
        "privacy_request",
        req.id,
        {"object": "privacy_request", "id": req.id, "format": fmt},
    )
    return bundle, (render_html(bundle) if fmt == "html" else None)


def reapply(
    uow: UnitOfWork, vault: VaultService, signer: Signer, journal: ErasureJournal
) -> list[str]:
    """Re-run every journalled erasure this database has no record of (it was restored from
    a copy taken before them); returns their request ids. Each is recorded under its
    original request id, so running this again does nothing."""
    done: list[str] = []
    for entry in journal.entries():
        if repo.get_request(uow.session, entry.merchant_id, entry.request_id) is not None:
            continue
        ctx = RequestContext(merchant_id=entry.merchant_id, actor="system:privacy-reapply")
        found = complete(
            uow.session, entry.merchant_id, _reload(uow, entry.merchant_id, entry.subject_ids)
        )
        now = uow.clock.now()
        req = PrivacyRequest(
            id=entry.request_id,
            merchant_id=entry.merchant_id,
            type=ERASURE,
            status="processing",
            customer_id=None,
            email_index=None,
            subject_ids=found.ids(),
            steps=[{"step": "reapplied", "at": to_unix(now), "journalled_at": entry.at}],
            certificate=None,
            created=now,
            due_at=now,
            completed_at=None,
        )
        uow.session.add(req)
        uow.flush()
        result = erase(
            uow,
            ctx,
            vault,
            signer,
            request_id=req.id,
            query=SubjectQuery(),
            email_index=None,
            found=found,
        )
        req.steps = [*req.steps, *result.steps]
        req.certificate = result.certificate
        req.status = COMPLETED
        req.completed_at = uow.clock.now()
        uow.flush()
        _event(uow, ctx, "strongbox.privacy.erasure_reapplied", req)
        done.append(req.id)
    return done
