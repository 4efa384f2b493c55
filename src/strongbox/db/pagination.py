"""Stripe-style cursor pagination (newest first) over a table's ``seq`` column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from strongbox.core.errors import InvalidRequestError, ResourceMissingError

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None


@dataclass(slots=True)
class Page(Generic[M]):
    data: list[M]
    has_more: bool


def _ts(value: int, op: str = "eq") -> datetime:
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        param = "created" if op == "eq" else f"created[{op}]"
        raise InvalidRequestError(
            f"Invalid {param}: not a valid Unix timestamp.",
            code="parameter_invalid_integer",
            param=param,
        ) from None


def paginate(
    session: Session,
    model: Any,
    merchant_id: str,
    page: PageRequest,
    conditions: list[Any] | None = None,
    *,
    created: dict[str, int] | None = None,
    created_column: Any = None,
    cursor_column: Any = None,
    noun: str = "object",
) -> Page[Any]:
    """``created`` filters on ``created_column`` (default: the model's ``created``).
    ``cursor_column`` is the column the cursor ids name (default: the model's ``id``);
    ``noun`` names the object in a missing cursor's error ("No such <noun>: '<id>'")."""
    conds = [model.merchant_id == merchant_id, *(conditions or [])]
    column = model.created if created_column is None else created_column
    if created:
        # Objects show ``created`` in whole seconds (rounded down), so compare by second:
        # "> T" is ">= T+1" and "<= T" is "< T+1".
        for op, value in created.items():
            if op == "eq":
                conds.append(column >= _ts(value, op))
                conds.append(column < _ts(value + 1, op))
            elif op in ("gt", "gte"):
                conds.append(column >= _ts(value + 1 if op == "gt" else value, op))
            else:
                conds.append(column < _ts(value + 1 if op == "lte" else value, op))
    cursor_id = page.starting_after or page.ending_before
    if cursor_id:
        by = model.id if cursor_column is None else cursor_column
        cursor_seq = session.scalar(
            select(model.seq).where(model.merchant_id == merchant_id, by == cursor_id)
        )
        if cursor_seq is None:
            param = "starting_after" if page.starting_after else "ending_before"
            raise ResourceMissingError(f"No such {noun}: '{cursor_id}'", param=param)
        if page.starting_after:
            conds.append(model.seq < cursor_seq)
        else:
            conds.append(model.seq > cursor_seq)
    order = model.seq.asc() if page.ending_before else model.seq.desc()
    rows = list(session.scalars(select(model).where(*conds).order_by(order).limit(page.limit + 1)))
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.ending_before:
        rows.reverse()
    return Page(data=rows, has_more=has_more)
