"""The merchant's own account as Stripe's ``GET /v1/account`` shows it, and its settlement
currency: the currency its payments are converted into when they are captured (docs/fx.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from strongbox.auth import repository
from strongbox.auth.models import Merchant
from strongbox.core.clock import to_unix
from strongbox.core.errors import ResourceMissingError
from strongbox.core.money import parse_currency
from strongbox.db.uow import UnitOfWork
from strongbox.events.types import RequestContext, raise_event


def get_merchant(session: Session, merchant_id: str) -> Merchant:
    m = repository.get_merchant(session, merchant_id)
    if m is None:
        raise ResourceMissingError(f"No such merchant: '{merchant_id}'", param="merchant")
    return m


def render_account(m: Merchant) -> dict[str, Any]:
    return {
        "id": m.id,
        "object": "account",
        "business_profile": {"name": m.name},
        "country": None,
        "created": to_unix(m.created),
        "default_currency": m.settlement_currency,
        "settings": {"payouts": {"settlement_currency": m.settlement_currency}},
        "type": "standard",
    }


def set_settlement_currency(
    uow: UnitOfWork, ctx: RequestContext, merchant_id: str, currency: str | None
) -> Merchant:
    """Set (or with None clear) the currency the merchant settles in. Intents created from
    then on record it (API keys cached by a server see it within the key cache's 30 s); a
    payment whose currency differs converts at capture. Audited as ``account.updated``."""
    code = None if currency is None else parse_currency(currency).code.lower()
    m = get_merchant(uow.session, merchant_id)
    before = render_account(m)
    m.settlement_currency = code
    uow.session.flush()
    after = render_account(m)
    previous = {k: v for k, v in before.items() if after.get(k) != v}
    raise_event(uow, ctx, "account.updated", "account", m.id, after, previous=previous)
    return m
