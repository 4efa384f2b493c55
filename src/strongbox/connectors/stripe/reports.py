"""Stripe's settlement data over its API: ``GET /v1/balance_transactions`` for a period.

Each balance transaction comes with its source expanded (``expand[]=data.source``), so a
charge's line names its PaymentIntent (``source.payment_intent``), the reference Strongbox
keeps for a Stripe payment. Pages of 100 are followed with ``starting_after`` until
``has_more`` is false. Errors are the connector's: ``RetryableError`` for an outage or a
network failure (retry later), ``TerminalError`` for a refused request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from strongbox.connectors.base import Credentials, RetryableError

PAGE: Final = 100
MAX_PAGES: Final = 10_000


Get = Callable[[str, dict[str, str], Credentials], dict[str, Any]]
"""The connector's authenticated ``GET`` (path, query, credentials) -> JSON object."""


def balance_transactions(
    get: Get, credentials: Credentials, *, since: int, until: int
) -> list[dict[str, Any]]:
    """Every balance transaction created in ``[since, until)`` (Unix seconds)."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        params = {
            "created[gte]": str(since),
            "created[lt]": str(until),
            "limit": str(PAGE),
            "expand[]": "data.source",
        }
        if after is not None:
            params["starting_after"] = after
        body = get("/v1/balance_transactions", params, credentials)
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise RetryableError(
                "Stripe answered the balance transaction list with an unreadable body",
                gateway_code="bad_response",
            )
        out.extend(data)
        if not body.get("has_more") or not data:
            return out
        last = data[-1].get("id")
        if not isinstance(last, str):
            raise RetryableError(
                "Stripe listed a balance transaction without an id", gateway_code="bad_response"
            )
        after = last
    raise RetryableError("Stripe listed too many pages", gateway_code="bad_response")
