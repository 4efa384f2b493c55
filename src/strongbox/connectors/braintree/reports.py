"""Braintree's settlement data over its API: the transaction search for a period.

``TransactionSearch.created_at.between(since, until)`` through the official SDK (which asks
``advanced_search_ids``, then ``advanced_search`` in pages), the transactions written back
as Braintree's own search-result XML (``<credit-card-transactions>`` of ``<transaction>``,
with the SDK's generator), so that what is imported is in the gateway's own format, as a
search result saved from the Control Panel would be.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import braintree
from braintree.util.generator import Generator

FIELDS = (
    "id",
    "type",
    "status",
    "amount",
    "currency_iso_code",
    "created_at",
    "refunded_transaction_id",
    "order_id",
    "merchant_account_id",
)


def _naive_utc(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None)


def transaction_search_xml(
    gateway: braintree.BraintreeGateway,
    send: Callable[..., Any],
    *,
    since: int,
    until: int,
) -> str:
    """Every transaction created in ``[since, until)`` (Unix seconds), as search XML."""

    def search() -> list[Any]:
        found = gateway.transaction.search(
            braintree.TransactionSearch.created_at.between(_naive_utc(since), _naive_utc(until))
        )
        return list(found.items)

    txns = send(search, sent=False)
    items = []
    for t in txns:
        created = getattr(t, "created_at", None)
        if isinstance(created, datetime) and int(created.replace(tzinfo=UTC).timestamp()) >= until:
            continue  # Braintree's range is inclusive of its end; ours is not
        fields = {name.replace("_", "-"): getattr(t, name, None) for name in FIELDS}
        items.append(Generator({"transaction": fields}).generate())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<credit-card-transactions type="collection">{"".join(items)}</credit-card-transactions>'
    )
