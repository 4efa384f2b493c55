"""Erasure (Art. 17) as a workflow with recorded steps, in the caller's unit of work:

1. find: every location of the subject's data (``locate``);
2. legal hold: payments, refunds and disputes that anti-money-laundering law keeps for five
   years after the relationship ends are kept, pseudonymised (ids, amounts, dates stay);
3. crypto-shred: the customers' vault keys are destroyed, their sealed PII becomes noise;
4. scrub: copies not under that key (legacy columns, descriptions, metadata values, billing
   details, event and gateway payload copies, cached responses, bank ownership data, card
   ciphertexts) are replaced;
5. verify: the subject is searched for again, by id and by every personal value seen;
6. certificate: the steps and counts, signed (``certificate.py``).

Nothing of the ledger or the audit log is touched: they hold ids and digests only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from strongbox.audit.heads import Signer
from strongbox.core.clock import to_unix
from strongbox.core.errors import ApiError
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext
from strongbox.privacy import repository as repo
from strongbox.privacy.certificate import sign_certificate
from strongbox.privacy.locate import Found, SubjectQuery, locate
from strongbox.privacy.scrub import ERASED, mentions, scrub_json
from strongbox.vault.service import VaultService

# AMLD (EU 2015/849) Art. 40: transaction records are kept five years after the end of the
# business relationship; the erasure ends it.
AML_RETENTION: Final = timedelta(days=5 * 365 + 1)
AML_BASIS: Final = (
    "Directive (EU) 2015/849 Art. 40(1)(b): records of transactions are kept for five years "
    "after the end of the business relationship"
)


class ErasureVerificationError(ApiError):
    default_code = "erasure_verification_failed"


@dataclass(frozen=True, slots=True)
class Erasure:
    steps: list[dict[str, Any]]
    certificate: dict[str, Any]


def _at(now: datetime) -> int:
    return to_unix(now)


def _legal_hold(found: Found, now: datetime) -> dict[str, Any]:
    held_intents = [pi for pi in found.payment_intents if pi.amount_received > 0]
    return {
        "step": "legal_hold",
        "at": _at(now),
        "basis": AML_BASIS,
        "kept_until": _at(now + AML_RETENTION),
        "kept": {
            "payment_intents": len(held_intents),
            "refunds": len(found.refunds),
            "disputes": len(found.disputes),
        },
        "treatment": "pseudonymised: receipt email, description and metadata scrubbed; ids, "
        "amounts, currencies and dates kept",
    }


def _shred(
    uow: UnitOfWork, ctx: RequestContext, vault: VaultService, found: Found
) -> dict[str, Any]:
    destroyed = 0
    for c in found.customers:
        if vault.shred_subject(uow, ctx, c.merchant_id, c.id):
            destroyed += 1
        if c.deleted_at is None:
            c.deleted_at = uow.clock.now()
    return {"step": "crypto_shred", "at": _at(uow.clock.now()), "keys_destroyed": destroyed}


def _scrub_body(body: str | None, needles: set[str]) -> str | None:
    if body is None:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return json.dumps(ERASED)
    return json.dumps(scrub_json(doc, needles), separators=(",", ":"))


def _scrub(uow: UnitOfWork, merchant_id: str, found: Found) -> dict[str, Any]:
    needles = found.needles
    counts: dict[str, int] = {}
    for c in found.customers:
        c.legacy_name = c.legacy_email = c.legacy_phone = None
        c.legacy_address = None
        c.description = None
        c.metadata_ = {}
        c.email_index = None
    counts["customers"] = len(found.customers)
    for pm in found.payment_methods:
        pm.billing_details = {"address": None, "email": None, "name": None, "phone": None}
        pm.metadata_ = {}
        if pm.bank_account:
            pm.bank_account = {
                k: v for k, v in pm.bank_account.items() if k in ("bank_name", "last4")
            }
    counts["payment_methods"] = len(found.payment_methods)
    counts["vault_card_records"] = repo.delete_vault_records(
        uow.session, merchant_id, [pm.id for pm in found.payment_methods]
    )
    for pi in found.payment_intents:
        pi.receipt_email = None
        pi.description = None
        pi.metadata_ = {}
    counts["payment_intents"] = len(found.payment_intents)
    for r in found.refunds:
        r.metadata_ = {}
    counts["refunds"] = len(found.refunds)
    for e in found.events:
        e.data = scrub_json(e.data, needles)
    counts["events"] = len(found.events)
    for ie in found.inbound_events:
        ie.payload = scrub_json(ie.payload, needles)
    counts["inbound_events"] = len(found.inbound_events)
    for k in found.idempotency_keys:
        k.response_body = _scrub_body(k.response_body, needles)
    counts["idempotency_keys"] = len(found.idempotency_keys)
    for a in found.bank_accounts:
        a.ownership = None
    counts["bank_accounts"] = len(found.bank_accounts)
    for t in found.bank_transactions:
        t.description = ERASED
    counts["bank_transactions"] = len(found.bank_transactions)
    uow.flush()
    return {"step": "scrub", "at": _at(uow.clock.now()), "scrubbed": counts}


def verify(
    uow: UnitOfWork,
    vault: VaultService,
    merchant_id: str,
    query: SubjectQuery,
    email_index: str | None,
    before: Found,
) -> dict[str, Any]:
    """Search again: by the same query, then every personal value in every copy found before."""
    session = uow.session
    readable = sum(
        1
        for c in before.customers
        if vault.open_pii(session, merchant_id, c.id, c.pii)
        or any((c.legacy_name, c.legacy_email, c.legacy_phone, c.legacy_address))
    )
    again = locate(session, merchant_id, SubjectQuery(email=query.email), email_index)
    by_email = len(again.customers) + len(again.payment_methods) + len(again.payment_intents)
    needles = before.needles
    copies: list[Any] = [
        *(c.description for c in before.customers),
        *(c.metadata_ for c in before.customers),
        *(pm.billing_details for pm in before.payment_methods),
        *(pm.metadata_ for pm in before.payment_methods),
        *((pi.receipt_email, pi.description, pi.metadata_) for pi in before.payment_intents),
        *(r.metadata_ for r in before.refunds),
        *(e.data for e in before.events),
        *(ie.payload for ie in before.inbound_events),
        *(k.response_body for k in before.idempotency_keys),
        *(a.ownership for a in before.bank_accounts),
        *(t.description for t in before.bank_transactions),
    ]
    mentioned = sum(1 for value in copies if mentions(value, needles))
    cards = repo.count_vault_cards(session, merchant_id, [pm.id for pm in before.payment_methods])
    result = {
        "readable_pii": readable,
        "found_by_email": by_email if query.email else 0,
        "copies_mentioning_subject": mentioned,
        "card_records": cards,
    }
    if any(result.values()):
        raise ErasureVerificationError(
            "Erasure could not be verified; nothing was changed. Counts: "
            + ", ".join(f"{k}={v}" for k, v in result.items())
        )
    return {"step": "verify", "at": _at(uow.clock.now()), "remaining": result}


def erase(
    uow: UnitOfWork,
    ctx: RequestContext,
    vault: VaultService,
    signer: Signer,
    *,
    request_id: str,
    query: SubjectQuery,
    email_index: str | None,
    found: Found,
) -> Erasure:
    now = uow.clock.now()
    steps: list[dict[str, Any]] = [
        {"step": "find", "at": _at(now), "counts": found.counts()},
        _legal_hold(found, now),
        _shred(uow, ctx, vault, found),
        _scrub(uow, ctx.merchant_id, found),
    ]
    steps.append(verify(uow, vault, ctx.merchant_id, query, email_index, found))
    cert = sign_certificate(
        {
            "request": request_id,
            "merchant": ctx.merchant_id,
            "subject": {
                "customers": sorted(c.id for c in found.customers),
                "payment_methods": sorted(pm.id for pm in found.payment_methods),
                "payment_intents": sorted(pi.id for pi in found.payment_intents),
            },
            "steps": list(steps),
            "erased_at": _at(uow.clock.now()),
        },
        signer,
    )
    steps.append({"step": "certificate", "at": _at(uow.clock.now()), "key_id": signer.key_id})
    return Erasure(steps=steps, certificate=cert)
